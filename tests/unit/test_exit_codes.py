"""Every exit code is named in `bridge.errors.ExitCode`, and the README's table lists exactly those."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import bridge
from bridge.errors import BridgeError, ExitCode

README = Path(__file__).resolve().parents[2] / "README.md"


def _subclasses(cls: type) -> list[type]:
    return [sub for direct in cls.__subclasses__() for sub in (direct, *_subclasses(direct))]


def test_every_error_exits_with_a_named_code():
    for module in pkgutil.walk_packages(bridge.__path__, "bridge."):
        importlib.import_module(module.name)
    errors = _subclasses(BridgeError)
    assert len(errors) > 10
    for error in (BridgeError, *errors):
        assert isinstance(error.exit_code, ExitCode), f"{error.__module__}.{error.__qualname__}: {error.exit_code!r}"


def test_the_readme_table_lists_every_exit_code():
    rows = re.findall(r"^\| (\d+) \| (.+) \|$", README.read_text(), re.MULTILINE)
    assert sorted(int(code) for code, _ in rows) == sorted(ExitCode)
