"""The README is part of the product: every file, figure and code line it links must exist and say what the
link claims, and every command-line option must be documented in OPTIONS.md, which it links."""
import dataclasses
import re
from pathlib import Path

import config
import train

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()
OPTIONS = (REPO / "OPTIONS.md").read_text()
PROSE = re.sub(r"```.*?```", "", README, flags=re.S)  # code blocks quote code: x[i](y) there is not a link
LINKS = re.findall(r"\[([^\]]*)\]\(([^)\s]+)\)", PROSE)  # [text](target), images included


def local(target: str) -> bool:
    return not re.match(r"[a-z]+://", target) and not target.startswith("#")


def test_every_linked_file_and_figure_exists():
    missing = [t for _, t in LINKS if local(t) and not (REPO / t.split("#")[0]).exists()]
    assert not missing, f"README links to missing files: {missing}"


def test_code_links_name_code_defined_in_the_linked_file():
    """[`gram`](loss.py) must name something loss.py defines (def, class or a module-level name): links go to
    files and are checked by name, so moving code within a file breaks nothing."""
    checked = 0
    for text, target in LINKS:
        if not (re.fullmatch(r"[\w/]+\.py", target) and text.startswith("`")):
            continue
        raw = re.sub(r"[`()]", "", text).strip()
        if raw.endswith(".py"):  # a link to the file itself
            continue
        name = raw.split(".")[-1]
        source = (REPO / target).read_text()
        defined = re.search(rf"^\s*(def|class) {re.escape(name)}\b|^{re.escape(name)}\s*[:=]", source, re.M)
        assert defined or f".{name}(" in source, f"README: [{text}]({target}) -> {target} defines no {name!r}"
        checked += 1
    assert checked >= 10  # the walk-through links each equation to the code that computes it


def test_every_cli_option_is_documented():
    flags = [a.option_strings[0] for a in train.build_parser()._actions if a.option_strings and a.dest != "help"]
    undocumented = [f for f in flags if f"`{f}" not in OPTIONS]
    assert not undocumented, f"options missing from OPTIONS.md: {undocumented}"
    assert "(OPTIONS.md)" in PROSE


def options_table() -> str:
    """OPTIONS.md's table, generated from config.Config (names, defaults and help in one place)."""
    rows = ["| option | default | meaning |", "|---|---|---|"]
    for f in dataclasses.fields(config.Config):
        flag = "--" + f.name.replace("_", "-")
        flag = f"{flag} / --no-{flag[2:]}" if isinstance(f.default, bool) else flag
        default = ",".join(f.default) if isinstance(f.default, tuple) else f.default
        rows.append(f"| `{flag}` | `{default}` | {f.metadata['help'].replace('|', '/')} |")
    return "\n".join(rows) + "\n"


def test_option_table_matches_the_config():
    assert options_table() in OPTIONS, "OPTIONS.md is out of date; replace its table with:\n" + options_table()


def test_readme_starts_with_install_test_and_main_commands():
    first_block = README.split("```")[1]
    assert "pip install -r requirements.txt" in first_block
    assert "python -m pytest -q" in first_block
    assert "python reproduce/fig2.py" in first_block
    assert "python -m pytest -q" in (REPO / ".ci" / "run").read_text()


def test_code_quoted_in_the_walk_is_the_repository_code():
    """Section 1 shows each equation's lines of code; each quoted line (comments aside) must occur verbatim in
    models.py, loss.py or paper.py, so the walk cannot drift from what runs."""
    walk = README[README.index("## 1. "):README.index("## 2. ")]
    sources = "\n".join((REPO / f).read_text() for f in ("models.py", "loss.py", "paper.py"))
    quoted = [line.split("  #")[0].strip() for block in re.findall(r"```python\n(.*?)```", walk, re.S)
              for line in block.splitlines()]
    quoted = [q for q in quoted if q and q != "..."]
    assert len(quoted) >= 8
    missing = [q for q in quoted if q not in sources]
    assert not missing, f"README section 1 quotes code that is not in the repository: {missing}"
