"""Tasks for the sandbox workers that measure the machine, not the pool (importable by name)."""

from __future__ import annotations

import json
import time


def verify_for(seconds: float, responses_path: str) -> int:
    """Run ``verify`` over the responses in a loop for ``seconds`` of wall time; return how many.

    Run in N workers at once, the total says how much verification work the machine can do in
    parallel right now, with no pool, no batching and no pipe traffic in between.
    """
    from verifier import verify

    with open(responses_path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        row = rows[n % len(rows)]
        verify(row["pred"], row["ref"])
        n += 1
    return n


def sleep_for(seconds: float) -> float:
    """Take ``seconds`` of wall time and no CPU."""
    time.sleep(seconds)
    return seconds
