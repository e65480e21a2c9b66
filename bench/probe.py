"""Tasks for the sandbox workers that measure the machine, not the verifier (importable by name)."""

from __future__ import annotations

import time


def count_for(seconds: float) -> int:
    """Spin for ``seconds`` of wall time; the loop count is the CPU work this process got."""
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


def sleep_for(seconds: float) -> float:
    """Take ``seconds`` of wall time and no CPU."""
    time.sleep(seconds)
    return seconds
