"""Helpers of the tests that run jobs in real processes: the actor processes of this test's Ray,
waiting for a condition, and killing a run once it has committed some chunks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
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


def kill_after_chunks(proc: subprocess.Popen[Any], checkpoint: Path, chunks: int, timeout: float) -> None:
    """SIGKILL ``proc`` (a rescore / annotate / pts run) once its ``checkpoint`` counts ``chunks``
    committed chunks; fails the test if the run ends first."""

    def committed() -> bool:
        assert proc.poll() is None, "the run ended before the kill"
        return checkpoint.exists() and json.loads(checkpoint.read_text())["chunks_done"] >= chunks

    try:
        wait_for(f"{chunks} chunks committed", committed, timeout=timeout)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
