"""Write docs/flags.md: one table per tool (flag, default, help), from the absl definitions.

    python -m tfdet.cli.docs              # (re)write docs/flags.md
    python -m tfdet.cli.docs --check      # exit 1 when docs/flags.md is out of date

Each tool's flags are what its entry point defines: `tfdet.cli.TOOLS` names the definer in
`tfdet.flags`, which is called here against a fresh `FlagValues`, so the tables list exactly the
flags each tool accepts (absl's own, such as `--flagfile` and `--helpfull`, are left out).
"""

from __future__ import annotations

import os
import sys

from absl import flags

from tfdet.cli import TOOLS

REGENERATE = "python -m tfdet.cli.docs"
DEFAULT_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                            "docs", "flags.md")


def tool_flags(tool: str) -> flags.FlagValues:
    """The flags `tools/<tool>.py` defines, in a FlagValues of their own (the global FLAGS untouched)."""
    from tfdet import flags as tfdet_flags

    flag_values = flags.FlagValues()
    saved = tfdet_flags.FLAGS
    tfdet_flags.FLAGS = flag_values  # the definers define into the module's FLAGS
    try:
        getattr(tfdet_flags, TOOLS[tool][0])()
    finally:
        tfdet_flags.FLAGS = saved
    return flag_values


def tool_flag_names(tool: str) -> set[str]:
    """Every flag name (and `no` form of a boolean) that `tools/<tool>.py` accepts, absl's own excluded."""
    flag_values = tool_flags(tool)
    names = set(flag_values)
    return names | {f"no{name}" for name in names if flag_values[name].boolean}


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _default(flag) -> str:
    if flag.default is None:
        return ""
    if flag.boolean:
        return "true" if flag.default else "false"
    value = flag.default_as_str if flag.default_as_str is not None else repr(flag.default)
    value = value.strip("'\"")
    return f"`{value}`" if value else "`''`"


def _help(flag) -> str:
    text = flag.help or ""
    enum_values = getattr(flag.parser, "enum_values", None)
    if enum_values:
        prefix = "<" + "|".join(enum_values) + ">: "
        text = text[len(prefix):] if text.startswith(prefix) else text
        text += " One of: " + ", ".join(f"`{v}`" for v in enum_values) + "."
    return text


def render() -> str:
    lines = [
        "# Flags of every tool",
        "",
        f"Generated from the absl definitions by `{REGENERATE}` (`make docs`): do not edit by hand.",
        "Each tool also takes absl's own flags (`--flagfile`, `--helpfull`, `--undefok`, ...); "
        "each tool's `--helpfull` prints the same list. Required flags are in **bold**.",
        "",
        "| tool | flags |",
        "|---|---|",
    ]
    for tool in TOOLS:
        lines.append(f"| [`tools/{tool}.py`](#{_anchor(tool)}) | {len(tool_flags(tool))} |")
    lines.append("")
    for tool, (_, required) in TOOLS.items():
        flag_values = tool_flags(tool)
        lines += [f"## tools/{tool}.py", "", "| flag | default | help |", "|---|---|---|"]
        for name in sorted(flag_values):
            flag = flag_values[name]
            shown = f"**`--{name}`**" if name in required else f"`--{name}`"
            lines.append(f"| {shown} | {_default(flag)} | {_cell(_help(flag))} |")
        lines.append("")
    return "\n".join(lines)


def _anchor(tool: str) -> str:
    """GitHub's anchor of the heading `tools/<tool>.py`."""
    return f"tools{tool}py"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    check = "--check" in argv
    paths = [a for a in argv if not a.startswith("--")]
    path = paths[0] if paths else DEFAULT_PATH
    text = render()
    if check:
        current = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
        if current != text:
            print(f"{path} is out of date: run `{REGENERATE}` (or `make docs`)", file=sys.stderr)
            return 1
        return 0
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
