"""Session fixtures for the real services.

The integration tier talks to a real PostgreSQL 15 and a real Apache Kafka broker. When
BRIDGE_PG_DSN and BRIDGE_KAFKA_BOOTSTRAP are set (the Makefile's `test` target sets them) they
are used as they are; otherwise the first integration test runs `deploy/local/up`, and the
session stops what it started. If the services cannot start the tests fail with the reason:
they are never skipped.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest

# Shared fakes and builders (psycopg's habit): plain modules the tests import names from, loaded
# as plugins so that their asserts are rewritten like a test's and fixtures put there reach every
# test. A test module never imports another test module (tests/unit/test_test_imports.py).
pytest_plugins = ("tests.fakes", "tests.unit.builders")

REPO = Path(__file__).resolve().parent.parent
UP = REPO / "deploy" / "local" / "up"
DOWN = REPO / "deploy" / "local" / "down"


def pytest_collection_modifyitems(items):
    # Everything under tests/integration needs the servers; mark it so `-m "not integration"`
    # gives the fast unit tier.
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def local_services():
    """{'BRIDGE_PG_DSN': ..., 'BRIDGE_KAFKA_BOOTSTRAP': ...} of running servers."""
    if os.environ.get("BRIDGE_PG_DSN") and os.environ.get("BRIDGE_KAFKA_BOOTSTRAP"):
        yield {k: os.environ[k] for k in ("BRIDGE_PG_DSN", "BRIDGE_KAFKA_BOOTSTRAP")}
        return
    proc = subprocess.run([str(UP)], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        pytest.fail(f"deploy/local/up failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}", pytrace=False)
    env = dict(re.findall(r"^export (\w+)='([^']*)'$", proc.stdout, re.M))
    started_here = "# started: nothing" not in proc.stdout
    yield env
    if started_here:
        subprocess.run([str(DOWN)], capture_output=True, timeout=300)


@pytest.fixture(scope="session")
def pg_dsn(local_services) -> str:
    """libpq DSN of a real PostgreSQL 15 with wal_level=logical; the user may replicate."""
    return local_services["BRIDGE_PG_DSN"]


@pytest.fixture(scope="session")
def kafka_bootstrap(local_services) -> str:
    """bootstrap.servers of a real Apache Kafka broker."""
    return local_services["BRIDGE_KAFKA_BOOTSTRAP"]


@pytest.fixture
def unique_name(request) -> str:
    """A short lower-case identifier unique to this test (slot, publication, topic prefix)."""
    stem = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:30].strip("_")
    return f"{stem}_{uuid.uuid4().hex[:6]}"
