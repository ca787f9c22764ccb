"""The README's commands work as written: each `tvm-tinytrain` line of its shell blocks parses
through the real parser, its links reach files and headings that exist, and the test command it
gives is the one CI runs (.ci/run)."""
import re
import shlex
from pathlib import Path

import pytest

from tvm_tinytrain.cli import EXAMPLES, build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def shell_commands(text: str) -> list[str]:
    """The commands of the ```sh blocks, continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line:
                commands.append(line)
    return commands


def slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_readme_starts_with_the_first_five_minutes():
    order = ["## The first five minutes", "./dev demo", "pip install .", "tvm-tinytrain doctor",
             "tvm-tinytrain fetch backbones cifar10", "TINYTRAIN_DATA", "**4. The demo.**",
             "tvm-tinytrain inspect mymodel:build", "## What works today"]
    places = [README.index(text) for text in order]
    assert places == sorted(places) and README.index("## ") == places[0]


@pytest.mark.parametrize("command", [c for c in shell_commands(README) if c.startswith("tvm-tinytrain ")])
def test_readme_command_parses(command):
    argv = shlex.split(command)[1:]
    args = build_parser().parse_args(argv)  # exits on a command, flag or value the parser refuses
    assert args.command == argv[0]


def test_every_command_appears_in_the_readme():
    used = {shlex.split(c)[1] for c in shell_commands(README) if c.startswith("tvm-tinytrain ")}
    assert used >= set(EXAMPLES) - {"doctor"} and "tvm-tinytrain doctor" in README


def test_links_reach_files_and_headings():
    links = re.findall(r"\]\(([^)#:]+\.md)?(#[^)]*)?\)", README)
    assert len(links) > 10
    for path, anchor in links:
        doc = ROOT / path if path else ROOT / "README.md"
        assert doc.exists(), path
        if anchor:
            headings = re.findall(r"^#+ (.+)$", doc.read_text(), re.M)
            assert anchor[1:] in {slug(h) for h in headings}, f"{path}{anchor}"


def test_the_readme_test_command_is_what_ci_runs():
    assert "./dev test" in shell_commands(README) and "\n./dev test" in (ROOT / ".ci" / "run").read_text()
