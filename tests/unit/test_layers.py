"""The import layers of `bridge`, lowest first: a module imports from its own layer and the layers
below it, never from a layer above. Read from the source with `ast` (imports inside functions and
under TYPE_CHECKING count too), so nothing is imported to check it.

When a package is added or renamed, add or rename it in LAYERS: a module that no entry covers
fails the test by name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import bridge

ROOT = Path(bridge.__file__).resolve().parent

# Entries are modules or packages under `bridge` (a package covers its submodules); the longest
# entry that covers a module gives its layer. `__init__` is the `bridge` package itself.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # kafka.keystores: Java stores into PEM, for Kafka's clients and the schema registry's (format)
    ("foundations", ("__init__", "errors", "lsn", "properties", "retry", "failpoints", "logsettings",
                     "kafka.keystores")),
    ("ring and pgoutput", ("ring", "pgoutput")),
    ("conversion", ("convert", "format")),
    ("components", ("kafka", "source", "cutover", "route", "snapshot", "transform", "produce", "ack", "status",
                    "notify", "sink.values")),
    # composes the components' settings: no component reads the whole configuration
    ("configuration", ("config",)),
    # operators' tools over a configuration: slot tools, doctor, HA lock, lost-slot recovery
    ("operations", ("ops",)),
    # `bridge sink`: a consumer application of its own, reading its file as the configuration does
    ("sink", ("sink",)),
    ("processes", ("proc",)),
    ("commands", ("wiring", "commands", "cli")),
)
# What the ring may import from outside itself: it is the transport, and knows no records.
RING_MAY_IMPORT = {"errors"}


def modules(root: Path = ROOT) -> dict[str, Path]:
    """{name relative to bridge: file} of every module; a package by its own name."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def module_of(target: str, known: set[str]) -> str | None:
    """The known bridge module that the dotted `target` is or lies in; None outside bridge."""
    if target == "bridge":
        return "__init__"
    if not target.startswith("bridge."):
        return None
    name = target[len("bridge."):]
    while name and name not in known:  # a class or function imported from a module
        name = name.rpartition(".")[0]
    return name or "__init__"


def imported(name: str, source: str, known: set[str], is_package: bool = False) -> set[str]:
    """The bridge modules that module `name` imports in `source` (names relative to bridge)."""
    here = [] if name == "__init__" else name.split(".")
    package = here if is_package else here[:-1]
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: `.` is this module's package, `..` the one above
                base = ".".join(["bridge", *package[:len(package) - node.level + 1]])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            # `from bridge.route import records` imports the module bridge.route.records;
            # `from bridge.pgoutput.messages import Insert` the module bridge.pgoutput.messages
            targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}".removeprefix("bridge.") in known
                       else module for alias in node.names]
        else:
            continue
        out |= {found for target in targets if (found := module_of(target, known)) is not None}
    return out - {name}


def layer_of(name: str) -> int:
    best, layer = -1, None
    for index, (_, entries) in enumerate(LAYERS):
        for entry in entries:
            if (name == entry or name.startswith(entry + ".")) and len(entry) > best:
                best, layer = len(entry), index
    if layer is None:
        raise LookupError(f"bridge.{name} is in no layer: add it (or its package) to LAYERS in {__file__}")
    return layer


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a module from a layer above the importer's, as a readable line."""
    return [f"bridge.{name} ({LAYERS[layer_of(name)][0]}) imports bridge.{target} ({LAYERS[layer_of(target)][0]})"
            for name, targets in sorted(graph.items()) for target in sorted(targets)
            if layer_of(target) > layer_of(name)]


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imported(name, path.read_text(), known, path.name == "__init__.py") for name, path in found.items()}


def test_every_module_is_in_a_layer():
    unplaced = []
    for name in modules():
        try:
            layer_of(name)
        except LookupError:
            unplaced.append(f"bridge.{name}")
    assert unplaced == [], f"add these to LAYERS in {__file__}"


def test_no_module_imports_from_a_layer_above_its_own():
    assert upward_imports(import_graph()) == []


def test_the_ring_imports_nothing_of_bridge_but_errors():
    graph = import_graph()
    outside = {target for name, targets in graph.items() if name.split(".")[0] == "ring"
               for target in targets if target.split(".")[0] != "ring"}
    assert outside <= RING_MAY_IMPORT, outside


def test_the_check_reads_every_spelling_of_an_import():
    known = {"__init__", "errors", "ring", "ring.ring", "route", "route.records", "route.router", "pgoutput.messages"}
    source = ("import bridge.errors\nfrom bridge import __version__\nfrom bridge.route import records as rec\n"
              "from bridge.pgoutput.messages import Insert\nfrom . import ring\n"
              "def f():\n    from .records import x\n")
    assert imported("route.router", source, known) == {"errors", "__init__", "route", "route.records",
                                                         "pgoutput.messages"}


def test_the_check_finds_an_upward_import():
    assert upward_imports({"ring.ring": {"errors", "route.router"}, "cli": {"ring"}}) == [
        "bridge.ring.ring (ring and pgoutput) imports bridge.route.router (components)"]
    assert layer_of("convert.values") == 2 and layer_of("pgoutput.protocol") == 1
