"""The machine and software a run measured: cores, memory, versions, date, load."""

from __future__ import annotations

import datetime
import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path

from native_bench.services import REPO, Services

CACHE = Path(os.environ.get("BRIDGE_CACHE_DIR", Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pgbridge"))


def _jar_version(folder: Path, stem: str) -> str | None:
    if not folder.is_dir():
        return None
    for jar in sorted(folder.glob(f"{stem}-*.jar")):
        m = re.fullmatch(re.escape(stem) + r"-(\d[\w.\-]*)\.jar", jar.name)
        if m:
            return m.group(1)
    return None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _git() -> dict:
    def run(*args):
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"commit": run("rev-parse", "--short", "HEAD") or None,
            "dirty": bool(run("status", "--porcelain", "--untracked-files=no"))}


def _java() -> str | None:
    try:
        out = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=20).stderr
        return out.splitlines()[0].strip() if out else None
    except (OSError, subprocess.SubprocessError):
        return None


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def describe(services: Services) -> dict:
    import confluent_kafka
    import psycopg2

    with services.connect() as conn, conn.cursor() as cur:
        cur.execute("SHOW server_version")
        pg_version = cur.fetchone()[0]
        cur.execute("SELECT name, setting FROM pg_settings WHERE name IN "
                    "('fsync', 'synchronous_commit', 'wal_level', 'shared_buffers', 'full_page_writes')")
        pg_settings = dict(cur.fetchall())
    conn.close()
    mem_kb = int(re.search(r"^MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text(), re.M).group(1))
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": {
            "cores": os.cpu_count(), "cpu": _cpu_model(), "memory_gb": round(mem_kb / 2**20, 1),
            "kernel": platform.release(), "os": platform.platform(terse=True),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "postgresql": {"version": pg_version, "settings": pg_settings},
        "kafka": {"version": _jar_version(CACHE / "kafka-libs", "kafka_2.13"), "bootstrap": services.kafka},
        "debezium": {
            "connector_version": _jar_version(CACHE / "debezium" / "plugins" / "debezium-connector-postgres",
                                              "debezium-connector-postgres"),
            "connect_runtime_version": _jar_version(CACHE / "debezium" / "connect-libs", "connect-runtime"),
            "java": _java(),
        },
        "pgbridge": {"version": _version("pgbridge"), **_git()},
        "python": platform.python_version(),
        "libraries": {"confluent-kafka": confluent_kafka.version()[0], "librdkafka": confluent_kafka.libversion()[0],
                      "psycopg2": psycopg2.__version__.split()[0], "msgspec": _version("msgspec"),
                      "mmh3": _version("mmh3")},
    }
