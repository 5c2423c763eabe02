"""Test modules stand alone: none imports another `test_*` module. What several share lives in
tests/fakes.py, tests/unit/builders.py, tests/integration/support.py and the like."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent


def imported_test_modules(source: str) -> list[str]:
    """The `test_*` modules that `source` imports (absolute or relative imports alike)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            # `from . import test_x` names the module in the alias, `from .test_x import y` in the module
            names = [f"{node.module or ''}.{alias.name}" for alias in node.names]
        else:
            continue
        found += [name for name in names if any(part.startswith("test_") for part in name.split("."))]
    return found


def test_the_check_sees_every_spelling_of_a_test_module_import():
    assert imported_test_modules("from tests.unit.test_config import MINIMAL") == ["tests.unit.test_config.MINIMAL"]
    assert imported_test_modules("import tests.unit.test_router as r") == ["tests.unit.test_router"]
    assert imported_test_modules("from .test_side_events import txn") == ["test_side_events.txn"]
    assert imported_test_modules("from . import test_events") == [".test_events"]
    assert imported_test_modules("def f():\n    from tests.integration.test_snapshot import x\n") != []
    assert imported_test_modules("from tests.unit.builders import MINIMAL\nimport pytest") == []


def test_no_test_module_imports_another():
    offenders = {str(path.relative_to(TESTS)): names for path in sorted(TESTS.rglob("test_*.py"))
                 if (names := imported_test_modules(path.read_text()))}
    assert offenders == {}, "move what is shared to a helper module (tests/fakes.py, tests/unit/builders.py, ...)"
