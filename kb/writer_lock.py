"""One writer of the vector store at a time, across processes: an advisory lock file in the data dir.

Chroma's embedded store is not process-safe: only the process holding this lock writes vectors.
Everyone else writes the catalog (SQLite serialises writers) and leaves the vector work queued in
its outbox, which the holder applies. The lock dies with its process, so a crash never leaves it taken.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Holder:
    pid: int
    role: str  # "server" or the CLI command's name
    since: str


# flock belongs to an open file, so a second open in this process would wait for the first: the lock
# is taken once per process and data dir, and shared by every WriterLock of that process (for example
# a server's workspace and a test's, or two lifespans of one app).
_taken: dict[Path, list[int]] = {}  # lock file → [fd, how many holders in this process]
_taken_guard = threading.Lock()


class WriterLock:
    """Reentrant within a process; ``held`` tells whether this holder may write vectors now."""

    def __init__(self, data_dir: Path) -> None:
        self.path = (Path(data_dir) / "writer.lock").absolute()
        self._depth = 0

    def try_acquire(self, role: str) -> bool:
        with _taken_guard:
            entry = _taken.get(self.path)
            if entry is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    return False
                os.ftruncate(fd, 0)
                os.write(fd, json.dumps({"pid": os.getpid(), "role": role, "since": time.strftime("%Y-%m-%dT%H:%M:%S")}).encode())
                entry = _taken[self.path] = [fd, 0]
            entry[1] += 1
            self._depth += 1
            return True

    def acquire(self, role: str, *, on_wait: Callable[[Holder | None], None] | None = None, poll_s: float = 0.5) -> None:
        """Wait until this process holds the lock; ``on_wait`` is told once who holds it."""
        told = False
        while not self.try_acquire(role):
            if on_wait and not told:
                on_wait(self.holder())
                told = True
            time.sleep(poll_s)

    def release(self) -> None:
        with _taken_guard:
            if self._depth == 0:
                return
            self._depth -= 1
            entry = _taken[self.path]
            entry[1] -= 1
            if entry[1] == 0:
                del _taken[self.path]
                os.ftruncate(entry[0], 0)
                fcntl.flock(entry[0], fcntl.LOCK_UN)
                os.close(entry[0])

    def holder(self) -> Holder | None:
        """Who holds the lock, as it wrote itself into the file (None when free or unreadable)."""
        try:
            info = json.loads(self.path.read_text(encoding="utf-8") or "{}")
            return Holder(int(info["pid"]), str(info["role"]), str(info["since"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None
