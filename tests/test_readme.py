"""The README is part of the product: every file, figure and code line it links must exist and say what the
link claims, and every command-line option must be documented in it."""
import dataclasses
import re
from pathlib import Path

import train

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()
LINKS = re.findall(r"\[([^\]]*)\]\(([^)\s]+)\)", README)  # [text](target), images included


def local(target: str) -> bool:
    return not re.match(r"[a-z]+://", target) and not target.startswith("#")


def test_every_linked_file_and_figure_exists():
    missing = [t for _, t in LINKS if local(t) and not (REPO / t.split("#")[0]).exists()]
    assert not missing, f"README links to missing files: {missing}"


def test_code_line_links_point_at_the_named_code():
    """[`gram`](loss.py#L21) must land on a line that mentions gram; line numbers drift when code moves."""
    checked = 0
    for text, target in LINKS:
        m = re.fullmatch(r"(.+\.py)#L(\d+)", target)
        if not m:
            continue
        name = re.sub(r"[`()]", "", text).split(".")[-1].strip()
        lines = (REPO / m.group(1)).read_text().splitlines()
        line = int(m.group(2))
        assert line <= len(lines) and name in lines[line - 1], \
            f"README: [{text}]({target}) -> line {line} is {lines[line - 1].strip()!r}"
        checked += 1
    assert checked >= 10  # the walk-through links each equation to its line


def test_every_cli_option_is_documented():
    flags = [a.option_strings[0] for a in train.build_parser()._actions if a.option_strings and a.dest != "help"]
    undocumented = [f for f in flags if f"`{f}" not in README]
    assert not undocumented, f"options missing from README section 6: {undocumented}"


def options_table() -> str:
    """The README's option table, generated from train.Config (names, defaults and help in one place)."""
    rows = ["| option | default | meaning |", "|---|---|---|"]
    for f in dataclasses.fields(train.Config):
        flag = "--" + f.name.replace("_", "-")
        flag = f"{flag} / --no-{flag[2:]}" if isinstance(f.default, bool) else flag
        default = ",".join(f.default) if isinstance(f.default, tuple) else f.default
        rows.append(f"| `{flag}` | `{default}` | {f.metadata['help'].replace('|', '/')} |")
    return "\n".join(rows) + "\n"


def test_option_table_matches_the_config():
    assert options_table() in README, "README section 6 is out of date; replace its table with:\n" + options_table()


def test_readme_starts_with_install_test_and_main_commands():
    first_block = README.split("```")[1]
    assert "pip install -r requirements.txt" in first_block
    assert "python -m pytest -q" in first_block
    assert "python reproduce/fig2.py" in first_block
    assert "python -m pytest -q" in (REPO / ".ci" / "run").read_text()
