"""Shared-memory leak check for the ring tests: no `pgbridge-*` segment this process (or a
child it started) created may outlive the module."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ours_or_orphaned() -> set[str]:
    """Segments named `pgbridge-<kind>-<pid>-<random>` created by this process, or by a process
    that is gone; segments of other running pgbridge processes on the machine are left out."""
    found = set()
    for name in os.listdir("/dev/shm"):
        parts = name.split("-")
        if len(parts) == 4 and parts[0] == "pgbridge" and parts[2].isdigit():
            pid = int(parts[2])
            if pid == os.getpid() or not _alive(pid):
                found.add(name)
    return found


@pytest.fixture(autouse=True, scope="module")
def no_leaked_segments() -> Iterator[None]:
    before = ours_or_orphaned()
    yield
    assert ours_or_orphaned() - before == set()
