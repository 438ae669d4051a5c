"""The documentation cannot rot: generated flags reference, commands, configs and links.

- docs/flags.md is what `python -m tfdet.cli.docs` writes now;
- every shell command in a fenced block of README.md, docs/*.md, bench/RESULTS.md and bench/history/
  (and every inline code span) that runs `python tools/X.py` passes only flags that tool defines, and
  every `configs/*.cfg` it names exists (or an earlier command of the same page writes it with `--output=`);
- every relative link of README.md, docs/, bench/RESULTS.md and bench/history/ resolves, anchors included.
"""

from __future__ import annotations

import glob
import os
import re
import shlex

import pytest

from tfdet.cli import TOOLS
from tfdet.cli import docs as flags_docs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ["README.md"] + sorted(glob.glob(os.path.join(REPO, "docs", "*.md"))) + [
    os.path.join(REPO, "bench", "RESULTS.md")] + sorted(glob.glob(os.path.join(REPO, "bench", "history", "*.md")))
COMMAND_PAGES = LINK_PAGES = PAGES
SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}
# absl's own flags, accepted by every tool
ABSL_FLAGS = {"flagfile", "undefok", "help", "helpfull", "helpshort", "helpxml", "only_check_args", "alsologtostderr",
              "logtostderr", "log_dir", "v", "verbosity", "stderrthreshold", "showprefixforinfo"}
TOOL_RE = re.compile(r"^tools/(\w+)\.py$")


def _path(page: str) -> str:
    return page if os.path.isabs(page) else os.path.join(REPO, page)


def _rel(page: str) -> str:
    return os.path.relpath(_path(page), REPO)


def fenced_blocks(text: str):
    """(language, first line number, body) of each fenced code block."""
    blocks, language, start, body = [], None, 0, []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if language is None and stripped.startswith("```"):
            language, start, body = stripped[3:].strip().lower(), number + 1, []
        elif language is not None and stripped.startswith("```"):
            blocks.append((language, start, "\n".join(body)))
            language = None
        elif language is not None:
            body.append(line)
    return blocks


def shell_commands(text: str):
    """(line number, command) of every command in the page's fenced shell blocks and inline code spans,
    with `\\` continuations joined, comments dropped, and `&&`, `;`, `|` chains split."""
    commands = []
    for language, start, body in fenced_blocks(text):
        if language not in SHELL_LANGUAGES:
            continue
        logical, first = "", None
        for offset, line in enumerate(body.splitlines()):
            first = start + offset if first is None else first
            if line.rstrip().endswith("\\"):
                logical += line.rstrip()[:-1] + " "
                continue
            commands.append((first, logical + line))
            logical, first = "", None
        if logical:
            commands.append((first, logical))
    outside = re.sub(r"```.*?```", "", text, flags=re.S)
    for match in re.finditer(r"`(python tools/[^`]+)`", outside):
        commands.append((outside[:match.start()].count("\n") + 1, match.group(1)))
    split = []
    for number, command in commands:
        for part in re.split(r"&&|;|\|\|", command):
            split.append((number, part))
    return split


def tokens(command: str) -> list[str]:
    lexer = shlex.shlex(command, posix=True, punctuation_chars=False)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        return list(lexer)
    except ValueError:  # an unbalanced quote: fall back to whitespace
        return command.split("#", 1)[0].split()


def tool_invocation(command: str):
    """(tool, its arguments) when the command runs `python tools/X.py`, else None."""
    words = tokens(command)
    for i, word in enumerate(words[:-1]):
        if os.path.basename(word).startswith("python") and TOOL_RE.match(words[i + 1]):
            return TOOL_RE.match(words[i + 1]).group(1), words[i + 2:]
    return None


def flag_names(arguments: list[str]) -> list[str]:
    """`--name` of each argument; optional ones in brackets (`[--version=N]`) count too."""
    names = []
    for argument in arguments:
        for piece in argument.strip("[]").split():
            piece = piece.strip("[]")
            if piece.startswith("--") and len(piece) > 2:
                names.append(piece[2:].split("=", 1)[0])
    return names


def named_configs(arguments: list[str]) -> list[str]:
    return re.findall(r"(configs/[\w./-]+\.cfg)", " ".join(arguments))


def written_configs(arguments: list[str]) -> list[str]:
    return [a.split("=", 1)[1] for a in arguments if a.startswith("--output=") and a.endswith(".cfg")]


def command_problems(page: str) -> list[str]:
    text = open(_path(page), encoding="utf-8").read()
    known = {tool: flags_docs.tool_flag_names(tool) | ABSL_FLAGS for tool in TOOLS}
    problems, written = [], set()
    for number, command in shell_commands(text):
        invocation = tool_invocation(command)
        if invocation is None:
            continue
        tool, arguments = invocation
        where = f"{_rel(page)}:{number}: tools/{tool}.py"
        if tool not in TOOLS:
            problems.append(f"{where}: no such tool")
            continue
        for name in flag_names(arguments):
            if name not in known[tool]:
                problems.append(f"{where}: --{name} is not a flag of this tool (docs/flags.md)")
        written.update(written_configs(arguments))
        for config in named_configs(arguments):
            if config not in written and not os.path.exists(os.path.join(REPO, config)):
                problems.append(f"{where}: {config} does not exist")
    return problems


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = heading.strip().replace("`", "").replace("*", "")  # code and emphasis marks are not in the text
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links keep their text
    text = text.lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: str) -> set[str]:
    text = open(_path(page), encoding="utf-8").read()
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    seen, result = {}, set()
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", text, flags=re.M):
        anchor = github_anchor(heading)
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        result.add(anchor if count == 0 else f"{anchor}-{count}")
    return result


def link_problems(page: str) -> list[str]:
    text = open(_path(page), encoding="utf-8").read()
    text_without_code = re.sub(r"```.*?```", "", text, flags=re.S)
    text_without_code = re.sub(r"`[^`\n]*`", "", text_without_code)
    problems = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text_without_code):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        resolved = os.path.normpath(os.path.join(os.path.dirname(_path(page)), path)) if path else _path(page)
        if not os.path.exists(resolved):
            problems.append(f"{_rel(page)}: link {target}: {os.path.relpath(resolved, REPO)} does not exist")
        elif anchor and resolved.endswith(".md") and anchor not in anchors(resolved):
            problems.append(f"{_rel(page)}: link {target}: no heading #{anchor} in {os.path.relpath(resolved, REPO)}")
    return problems


def test_flags_reference_is_current():
    current = open(flags_docs.DEFAULT_PATH, encoding="utf-8").read() if os.path.exists(flags_docs.DEFAULT_PATH) else ""
    assert current == flags_docs.render(), (
        f"docs/flags.md is out of date with the flag definitions: regenerate it with `{flags_docs.REGENERATE}` "
        "(or `make docs`) and commit it")


def test_flags_reference_check_says_how_to_regenerate(tmp_path, capsys):
    stale = tmp_path / "flags.md"
    stale.write_text("# Flags of every tool\n")
    assert flags_docs.main(["--check", str(stale)]) == 1
    assert flags_docs.REGENERATE in capsys.readouterr().err
    assert flags_docs.main([str(stale)]) == 0 and flags_docs.main(["--check", str(stale)]) == 0


def test_flags_reference_lists_each_tool_and_its_required_flags():
    text = flags_docs.render()
    for tool, (_, required) in TOOLS.items():
        assert f"## tools/{tool}.py" in text
        for name in required:
            assert f"**`--{name}`**" in text
    assert "`--num_steps` | `1000` | Training steps. |" in text
    assert "`--flagfile`" not in text.split("## ", 1)[1]  # absl's own flags are not listed per tool


def test_command_parser():
    page = """
```bash
python tools/train.py --flagfile=configs/tiny_cpu.cfg \\
    --train_records='records/a b/*' --model_dir=runs/x [--num_steps=N]   # a comment --not_a_flag
ONEDNN_MAX_CPU_ISA=AVX2 python tools/export.py --model_dir=runs/x --export_dir=e && python tools/predict.py --model=e
```
Inline: `python tools/evaluate.py --model=runs/x --output_dir=y`; not a tool: `python -m tfdet.cli.docs --check`.
"""
    invocations = [tool_invocation(c) for _, c in shell_commands(page)]
    invocations = [i for i in invocations if i]
    assert [tool for tool, _ in invocations] == ["train", "export", "predict", "evaluate"]
    assert flag_names(invocations[0][1]) == ["flagfile", "train_records", "model_dir", "num_steps"]
    assert named_configs(invocations[0][1]) == ["configs/tiny_cpu.cfg"]
    assert [n for n, _ in shell_commands(page)][:1] == [3]


@pytest.mark.parametrize("page", COMMAND_PAGES, ids=_rel)
def test_documented_commands_use_real_flags_and_configs(page):
    problems = command_problems(page)
    assert not problems, "\n".join(problems)


def test_pages_have_commands_to_check():
    pages = {_rel(p) for p in COMMAND_PAGES if any(tool_invocation(c) for _, c in shell_commands(open(_path(p)).read()))}
    assert {"docs/data.md", "docs/training.md", "docs/evaluation.md", "docs/export.md"} <= pages


def test_a_wrong_flag_is_caught(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```bash\npython tools/train.py --flagfile=configs/nope.cfg --train_steps=3 --model_dir=x\n```\n")
    problems = command_problems(str(page))
    assert any("--train_steps is not a flag" in p for p in problems)
    assert any("configs/nope.cfg does not exist" in p for p in problems)


@pytest.mark.parametrize("page", LINK_PAGES, ids=_rel)
def test_relative_links_resolve(page):
    problems = link_problems(page)
    assert not problems, "\n".join(problems)


def test_github_anchors():
    assert github_anchor("tools/make_tfrecord.py") == "toolsmake_tfrecordpy"
    assert github_anchor("Conversion (`bench/convert.py`)") == "conversion-benchconvertpy"
    assert github_anchor("Run folder, resume and stages") == "run-folder-resume-and-stages"
