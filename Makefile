# The README's two set-up commands: `make demo` and `make test`.
# Each creates .venv when missing and installs the project into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo_out
DEMO_RECOGNITION_DIR ?= demo_recognition_out

.PHONY: demo demo-recognition test install bench docs fonts clean

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[cpu,test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) tools/demo.py --output_dir=$(DEMO_DIR)

# class-agnostic detector + metric-learning recogniser on synthetic shelves (seen and never-seen products)
demo-recognition: $(STAMP)
	$(PY) tools/demo_recognition.py --output_dir=$(DEMO_RECOGNITION_DIR)

test: $(STAMP)
	$(PY) -m pytest -q -ra --durations=15 tests

# optional: free font families for the words-on-real-scenes generator (Debian/Ubuntu; docs/real-photographs.md, "Fonts")
FONT_PACKAGES := fonts-liberation2 fonts-freefont-ttf fonts-urw-base35 fonts-noto-core fonts-roboto fonts-lato \
	fonts-open-sans fonts-inter fonts-cabin fonts-crosextra-carlito fonts-comic-neue fonts-league-spartan \
	fonts-ebgaramond fonts-cantarell fonts-bebas-neue fonts-yanone-kaffeesatz fonts-quicksand fonts-sil-andika \
	fonts-b612 fonts-jura fonts-linuxlibertine fonts-dseg
SUDO ?= $(shell test "$$(id -u)" = 0 || echo sudo)

fonts:
	$(SUDO) apt-get install -y --no-install-recommends $(FONT_PACKAGES)

# docs/flags.md, the flags reference, generated from the absl definitions (tests fail when it is stale)
docs: $(STAMP)
	$(PY) -m tfdet.cli.docs

bench: $(STAMP)
	for b in bench/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(DEMO_DIR) $(DEMO_RECOGNITION_DIR) .pytest_cache
