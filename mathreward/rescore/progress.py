"""Progress of a run: a tqdm bar on a terminal, log lines otherwise."""

from __future__ import annotations

import time
from typing import Any, TextIO


def fmt_eta(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class Progress:
    """A tqdm bar with rate and ETA on a terminal; otherwise a plain line every ``log_every_s`` seconds."""

    def __init__(self, total: int, initial: int, mode: str, log_every_s: float, stream: TextIO) -> None:
        if mode == "auto":
            mode = "bar" if stream.isatty() else "log"
        self.mode = mode
        self.total = total
        self.done = initial
        self.start_done = initial
        self.responses = 0
        self.stream = stream
        self.log_every_s = log_every_s
        self.t0 = time.monotonic()
        self.last = self.t0
        self.bar: Any = None
        if mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                initial=initial,
                unit="row",
                file=stream,
                dynamic_ncols=True,
                desc="rescore",
                smoothing=0.1,
            )

    def update(self, rows: int, responses: int) -> None:
        self.done += rows
        self.responses += responses
        now = time.monotonic()
        if self.bar is not None:
            self.bar.update(rows)
            self.bar.set_postfix_str(f"{self.responses / max(now - self.t0, 1e-9):.1f} resp/s", refresh=False)
        elif self.mode == "log" and (now - self.last >= self.log_every_s or self.done >= self.total):
            self.last = now
            self.stream.write(self.line(now) + "\n")
            self.stream.flush()

    def line(self, now: float) -> str:
        elapsed = max(now - self.t0, 1e-9)
        rate = (self.done - self.start_done) / elapsed
        left = self.total - self.done
        eta = fmt_eta(left / rate) if rate > 0 else "?"
        pct = 100.0 * self.done / self.total if self.total else 100.0
        return (
            f"rescore: {self.done}/{self.total} rows ({pct:.1f}%), {self.responses} responses, "
            f"{rate:.1f} rows/s, {self.responses / elapsed:.1f} responses/s, ETA {eta}"
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
