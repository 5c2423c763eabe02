"""`bridge.proc.child.keep_heap`: the allocator setting every child process makes at start."""

from __future__ import annotations

import subprocess
import sys

from bridge.proc.child import keep_heap


class FakeLibc:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append((param, value))
        return 1


def test_heap_is_kept_below_8_mib_and_trimmed_above_64_mib():
    libc = FakeLibc()
    keep_heap(libc)
    # glibc's M_MMAP_THRESHOLD (-3), M_TRIM_THRESHOLD (-1), M_TOP_PAD (-2)
    assert dict(libc.calls) == {-3: 8 << 20, -1: 64 << 20, -2: 4 << 20}


def test_a_c_library_without_mallopt_is_left_alone():
    keep_heap(object())  # type: ignore[arg-type]  # no mallopt attribute: nothing to call, no error


def test_glibc_accepts_the_settings():
    # the real call, in a fresh interpreter: glibc answers 1 for every accepted parameter
    code = ("import ctypes; from bridge.proc.child import _M_MMAP_THRESHOLD, _M_TRIM_THRESHOLD, _M_TOP_PAD;"
            "libc = ctypes.CDLL(None);"
            "print([libc.mallopt(p, v) for p, v in ((_M_MMAP_THRESHOLD, 8 << 20), (_M_TRIM_THRESHOLD, 64 << 20),"
            " (_M_TOP_PAD, 4 << 20))])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[1, 1, 1]"
