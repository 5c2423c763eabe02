"""deploy/runbooks/README.md, the index: it lists every runbook, its links and the tests it
names exist, the metrics it names are exported, and its `bridge` commands parse with the CLI's
own parser."""

from __future__ import annotations

import re
import shlex

from bridge import cli
from tests.deploy_files import REPO, RUNBOOKS, exported_metrics, metric_names

INDEX = RUNBOOKS / "README.md"


def test_every_runbook_is_in_the_index():
    text = INDEX.read_text()
    pages = {p.name for p in RUNBOOKS.glob("*.md")} - {"README.md"}
    assert pages, "no runbook found"
    assert {p for p in pages if f"]({p})" not in text} == set(), "add a row to deploy/runbooks/README.md"


def test_links_and_named_files_exist():
    text = INDEX.read_text()
    for link in re.findall(r"\]\(([^)#]+)\)", text):
        assert (RUNBOOKS / link).exists(), link
    named = re.findall(r"`((?:tests|deploy)/[^`\s]+)`", text)
    assert any(n.startswith("tests/integration/") for n in named)
    for path in named:
        assert (REPO / path).exists(), path


def test_named_metrics_are_exported():
    named = metric_names(INDEX.read_text())
    assert named and named - set(exported_metrics()) == set()


def test_commands_parse():
    commands = re.findall(r"`(bridge [^`]+)`", INDEX.read_text())
    assert len(commands) >= 4
    parser = cli._parser()
    for command in commands:
        try:
            parser.parse_args(shlex.split(command)[1:])
        except SystemExit:
            raise AssertionError(f"`{command}` in the index is not a command line bridge accepts") from None
