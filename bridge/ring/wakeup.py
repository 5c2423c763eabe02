"""Cross-process sleep and wake-up: one eventfd per direction, and the fence that makes the
"I am going to sleep" flags in shared memory safe.

The protocol (both directions, writer/reader being the two sides):

    sleeper                                  waker
    flag = 1                                 position = p        (publish)
    full_fence()                             full_fence()
    if nothing to do: wait(eventfd)          if flag: signal(eventfd)
    flag = 0

Without the fences this is Dekker's race: x86-64 (TSO) keeps stores in order and loads in
order, but lets a load overtake an earlier store to another address (the store buffer). Both
sides could then read the other's old value: the sleeper sees no data, the waker sees no
flag, and the wake-up is lost. With them, at least one side sees the other's store. While
the ring is busy nobody sleeps, the flag stays 0 and the waker makes no syscall.

Python has no fence primitive. Acquiring and releasing an uncontended `threading.Lock` runs
glibc's `sem_trywait`/`sem_post`, LOCK-prefixed read-modify-writes, and a LOCK-prefixed
instruction is a full barrier on x86-64 (about 0.1 µs). On weaker CPUs (arm64) the plain
8-byte stores of the ring would need real barriers too; pgbridge documents x86-64 only. As
a backstop against a lost wake-up, sleepers never wait longer than a short slice before
re-checking, so a lost wake-up would cost latency, never a hang.
"""

import os
import select
import threading

_FENCE = threading.Lock()


def full_fence() -> None:
    """Order this process's earlier stores before its later loads (a StoreLoad barrier)."""
    _FENCE.acquire()
    _FENCE.release()


class Wakeup:
    """A non-blocking eventfd: `signal()` in one process, `wait(timeout)` in the other.

    Counts its own syscalls (`signals`, `sleeps`) so benchmarks can show that a busy ring
    makes none. Stale signals are harmless: the sleeper re-checks the ring after waking.
    """

    __slots__ = ("_fd", "_poll", "signals", "sleeps")

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)
        self.signals = 0
        self.sleeps = 0

    @classmethod
    def create(cls) -> "Wakeup":
        return cls(os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC))

    def fileno(self) -> int:
        return self._fd

    def signal(self) -> None:
        os.eventfd_write(self._fd, 1)
        self.signals += 1

    def wait(self, timeout: float) -> None:
        """Sleep until signalled or `timeout` seconds passed, and consume the signal."""
        self.sleeps += 1
        if self._poll.poll(timeout * 1000.0):
            # Each eventfd has a single waiting process, so POLLIN means a read succeeds.
            os.eventfd_read(self._fd)

    def close(self) -> None:
        os.close(self._fd)
