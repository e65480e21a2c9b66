"""Helpers of the Ray tests: the actor processes of this test's Ray, and waiting for a condition."""

from __future__ import annotations

import time
from typing import Any


def actor_processes(title: str) -> dict[int, str]:
    """The actor processes of this test's Ray (descendants of this process) whose title starts with
    ``title``: pid -> process title. Ray titles an actor's process ``ray::CLASS.METHOD`` while a method
    runs (``ray::MapWorker(MapBatches(X)).submit``: a Ray Data actor running a chunk)."""
    import psutil

    found = {}
    for proc in psutil.Process().children(recursive=True):
        try:
            cmdline = " ".join(proc.cmdline())
        except psutil.Error:  # gone meanwhile
            continue
        if cmdline.startswith(title):
            found[int(proc.pid)] = cmdline
    return found


def wait_for(what: str, probe: Any, timeout: float = 60.0) -> Any:
    """``probe()`` once it is truthy; fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (found := probe()):
        assert time.monotonic() < deadline, f"not seen within {timeout:.0f} s: {what}"
        time.sleep(0.005)
    return found
