"""Reading deploy/ for its tests: the Grafana dashboard's PromQL, the systemd units, and what
pgbridge exports for them to name."""

from __future__ import annotations

import re
import shlex
import signal
from dataclasses import dataclass
from pathlib import Path

from bridge.ring import LsnCells, RingOwner
from bridge.status.http import respond
from bridge.status.metrics import PipelineState, SlotWal
from tests.prometheus_text import parse

REPO = Path(__file__).resolve().parents[1]
DASHBOARD = REPO / "deploy" / "grafana" / "pgbridge.json"
SYSTEMD = REPO / "deploy" / "systemd"
RUNBOOKS = REPO / "deploy" / "runbooks"
PROMETHEUS_LABELS = {"instance", "job"}  # added by the scrape, not by pgbridge

_NAME = re.compile(r"\bpgbridge_[a-z0-9_]+\b")
_SELECTOR = re.compile(r"\b(pgbridge_[a-z0-9_]+)\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")
_COUNTER_FUNCTIONS = ("rate", "irate", "increase")


@dataclass
class _Child:
    role: str
    alive: bool = True


def exported_metrics() -> dict[str, tuple[str, set[str]]]:
    """{metric: (kind, label names)} of everything a streaming bridge serves at /q/metrics,
    rendered the way the HTTP server does, with every conditional family present (slot figures
    with a safe_wal_size: max_slot_wal_keep_size set)."""
    cells = LsnCells.create(2)
    rings = [RingOwner(1 << 16) for _ in range(2)]
    try:
        state = PipelineState("slot", 2, phase="streaming", cells=cells, rings=rings,
                              children=[_Child("decoder"), _Child("producer-0"), _Child("producer-1")],
                              wal=SlotWal(5000, 1000, 2000, "reserved", 1 << 30))
        code, _, body = respond(state, "GET", "/q/metrics")
    finally:
        for ring in rings:
            ring.close()
        cells.close()
    assert code == 200
    text = body.decode()
    kinds = dict(line.split()[2:4] for line in text.splitlines() if line.startswith("# TYPE "))
    labels: dict[str, set[str]] = {name: set() for name in kinds}
    for name, pairs in parse(text):
        labels[name] |= {k for k, _ in pairs}
    return {name: (kind, labels[name]) for name, kind in kinds.items()}


def panels(dashboard: dict) -> list[dict]:
    """Every panel, those inside collapsed rows too."""
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out += panel.get("panels", [])
    return out


def exprs(dashboard: dict) -> list[str]:
    """The PromQL of every panel's targets and of every query variable."""
    found = [t["expr"] for p in panels(dashboard) for t in p.get("targets", [])]
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            found.append(var["query"]["query"] if isinstance(var["query"], dict) else var["query"])
    return found


def metric_names(expr: str) -> set[str]:
    return set(_NAME.findall(expr))


def selector_labels(expr: str) -> list[tuple[str, set[str]]]:
    """(metric, label names its matchers use) of each `name{...}` selector."""
    return [(name, set(_MATCHER.findall(body))) for name, body in _SELECTOR.findall(expr)]


def grouping_labels(expr: str) -> set[str]:
    """Labels named in by(...), without(...), on(...), ignoring(...)."""
    return {label.strip() for group in _GROUPING.findall(expr) for label in group.split(",") if label.strip()}


def bare_counters(expr: str, counters: set[str]) -> set[str]:
    """Counters used other than as the argument of rate/irate/increase (a raw counter's value
    means nothing on a dashboard: it restarts at 0 with the process)."""
    bare = set()
    for match in _NAME.finditer(expr):
        if match[0] in counters:
            head = expr[:match.start()].rstrip()
            if not any(head.endswith(f"{fn}(") for fn in _COUNTER_FUNCTIONS):
                bare.add(match[0])
    return bare


def read_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """{section: {key: [values, in order]}} of a systemd unit file (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        assert current is not None, f"{path.name}: {line!r} before any section"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def unit_command(unit: dict, key: str = "ExecStart", instance: str = "orders") -> list[str]:
    """The unit's command line as systemd runs it for `name@instance`: %i replaced and ${VAR}
    taken from the unit's Environment= lines."""
    env = dict(item.split("=", 1) for line in unit["Service"].get("Environment", []) for item in shlex.split(line))
    [line] = unit["Service"][key]
    line = line.replace("%i", instance)
    line = re.sub(r"\$\{(\w+)\}", lambda m: env[m[1]], line)
    return shlex.split(line)


def reload_signal(unit: dict) -> signal.Signals:
    """The signal ExecReload sends to $MAINPID (`/bin/kill -SIG $MAINPID`)."""
    command = unit_command(unit, "ExecReload")
    assert command[0].endswith("/kill") and command[-1] == "$MAINPID", command
    [option] = command[1:-1]
    return signal.Signals["SIG" + option.lstrip("-").removeprefix("SIG")]
