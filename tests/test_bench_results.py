"""bench/RESULTS.md holds current figures only, bench/history/ the studies behind them, and no figure
was lost when the former lab-notebook RESULTS.md (and the former long README) were split up.

The preservation check reads the former files from git (the commit before the split) and asks that
every number in them appears, spelled the same, in the new RESULTS.md or a history file (README
figures: also in README.md or docs/). It is skipped where git or that commit is not available (a
tarball or a shallow clone).
"""

from __future__ import annotations

import glob
import os
import re
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the last commit with the lab-notebook bench/RESULTS.md and the 644-line README.md
BEFORE_SPLIT = "b0d8924e4c20d20a2e9578eba3b37c2e4904ccf1"
RESULTS = os.path.join(REPO, "bench", "RESULTS.md")
HISTORY = sorted(p for p in glob.glob(os.path.join(REPO, "bench", "history", "*.md")) if not p.endswith("README.md"))
DOCS = [os.path.join(REPO, "README.md")] + sorted(glob.glob(os.path.join(REPO, "docs", "*.md")))
# a number as written: 7,856 / 0.890 / 1280x736 / 1e-12 gives 1 and 12; not the digits inside names (avx512, P3,
# mAP_50, x5)
NUMBER = re.compile(r"(?:(?<![A-Za-z_\d.,])|(?<=\dx))\d+(?:,\d{3})*(?:\.\d+)?")
HISTORY_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}-[a-z0-9-]+\.md$")


def numbers(text: str) -> set[str]:
    return set(NUMBER.findall(text))


def _read(paths) -> str:
    return "\n".join(open(p, encoding="utf-8").read() for p in paths)


def _former(path: str) -> str:
    try:
        return subprocess.run(["git", "show", f"{BEFORE_SPLIT}:{path}"], cwd=REPO, check=True, capture_output=True,
                              text=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"the former {path} is not readable from git here ({exc}): a clone with full history is needed")


def missing(former: str, kept: str) -> list[str]:
    return sorted(numbers(former) - numbers(kept), key=lambda n: float(n.replace(",", "")))


def test_number_extraction():
    text = "402 img/s, 7,856 img/s; 0.051 (1 worker); avx512_bf16 P3-P7 mAP_50 1280x736 (k2) -0.78 1/2 x5"
    assert numbers(text) == {"402", "7,856", "0.051", "1", "1280", "736", "0.78", "2"}


def test_no_figure_of_the_former_results_is_lost():
    lost = missing(_former("bench/RESULTS.md"), _read([RESULTS] + HISTORY))
    assert not lost, f"numbers of the former bench/RESULTS.md found neither in RESULTS.md nor in bench/history/: {lost}"


def test_no_figure_of_the_former_readme_is_lost():
    lost = missing(_former("README.md"), _read([RESULTS] + HISTORY + DOCS))
    assert not lost, f"numbers of the former README.md found nowhere in README, docs/, RESULTS.md or history: {lost}"


def _tables(text: str):
    """(heading, header cells, rows) of each markdown table."""
    tables, heading, lines = [], "", text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("#"):
            heading = lines[i].lstrip("# ").strip()
        if lines[i].startswith("|") and i + 1 < len(lines) and re.match(r"^\|[-| :]+\|$", lines[i + 1].strip()):
            header = [c.strip() for c in lines[i].strip().strip("|").split("|")]
            rows, i = [], i + 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(lines[i])
                i += 1
            tables.append((heading, header, rows))
            continue
        i += 1
    return tables


def test_results_rows_say_machine_date_and_command():
    text = open(RESULTS, encoding="utf-8").read()
    tables = _tables(text)
    assert len(tables) >= 8
    for heading, header, rows in tables:
        for column in ("machine", "date", "command"):
            assert column in header, f"bench/RESULTS.md, table under '{heading}': no '{column}' column"
        for row in rows:
            assert re.search(r"\b20\d\d-\d\d-\d\d\b", row), f"bench/RESULTS.md, '{heading}': a row without a date: {row}"


def test_results_are_current_figures_only():
    text = open(RESULTS, encoding="utf-8").read()
    assert not re.findall(r"\((?:[a-z]\d?|b-word)\)", text), "run letters belong in bench/history/"
    assert "session" not in text.lower(), "who ran what when belongs nowhere; the study belongs in bench/history/"


def test_history_files_open_with_question_answer_numbers():
    assert HISTORY, "bench/history/ holds the studies behind the figures"
    for path in HISTORY:
        name = os.path.basename(path)
        assert HISTORY_NAME.match(name), f"bench/history/{name}: name it <yyyy-mm-dd>-<topic>.md"
        lines = [line for line in open(path, encoding="utf-8").read().splitlines() if line.strip()]
        assert lines[0].startswith("# "), f"bench/history/{name}: a title first"
        opening = [line.split(":", 1)[0] for line in lines[1:4]]
        assert opening == ["**Question**", "**Answer**", "**Decisive numbers**"], (
            f"bench/history/{name}: the three lines after the title are the question, the answer and the decisive "
            f"numbers, got {opening}")
