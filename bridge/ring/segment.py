"""Named POSIX shared-memory segments: created by the coordinator, attached by its children.

Names are `pgbridge-<kind>-<creator pid>-<random>`, so a leaked segment in /dev/shm says
what it was and who made it.

Python 3.11 `SharedMemory` quirks this module relies on or works around:
- The creator's registration with the resource tracker is the crash safety net: if the
  creator is killed before it unlinks, the tracker unlinks the segment once every process
  holding the tracker's pipe (the creator and its children) has exited.
- Attaching registers the segment again (fixed by `track=False` only in 3.13). Processes
  started by `multiprocessing` from the creator (fork, spawn and forkserver alike) share the
  creator's tracker, whose registry is a set, so that second registration is a no-op. Never
  call `resource_tracker.unregister` in a child: it would drop the creator's registration.
  Never attach from a process that is not a `multiprocessing` descendant of the creator: it
  would start its own tracker, which unlinks the segment when that process exits.
- `close()` raises BufferError while a memoryview of the buffer is alive, and
  `SharedMemory.__del__` retries it as an unraisable error: release every view first.
"""

import os
import secrets
from multiprocessing.shared_memory import SharedMemory

SEGMENT_PREFIX = "pgbridge-"


def create_segment(kind: str, size: int) -> SharedMemory:
    """Create a zero-filled segment of `size` bytes; the caller must `unlink()` it."""
    name = f"{SEGMENT_PREFIX}{kind}-{os.getpid()}-{secrets.token_hex(4)}"
    return SharedMemory(name=name, create=True, size=size)


def attach_segment(name: str) -> SharedMemory:
    """Map an existing segment created by an ancestor process (see the module docstring)."""
    return SharedMemory(name=name)
