"""Helpers of the abuse suite: a real ``mathreward serve`` subprocess (so its RSS can be read), raw gRPC
stubs, and the /metrics page."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Served:
    """A running ``mathreward serve`` process and the ports it printed."""

    proc: subprocess.Popen[str]
    port: int
    http_port: int | None
    metrics_port: int | None
    stderr_path: Path

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def rss(self) -> int:
        """Resident memory of the server process itself (not its sandbox workers), bytes."""
        return _status_kb(self.proc.pid, "VmRSS") * 1024

    def peak_rss(self) -> int:
        """The server process's high-water mark of resident memory, bytes."""
        return _status_kb(self.proc.pid, "VmHWM") * 1024

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            return str(response.read().decode())

    def stderr(self) -> str:
        return self.stderr_path.read_text()


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {key} in /proc/{pid}/status")


def metric(page: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in page.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


@contextmanager
def serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    """``mathreward serve --port 0 --metrics-port 0 ARGS`` until the block ends (then SIGTERM, kill)."""
    command = [
        sys.executable, "-m", "mathreward", "serve", "--port", "0", "--metrics-port", "0",
        "--log-level", "WARNING", "--drain-delay", "0", *args,
    ]  # fmt: skip
    stderr_path = tmp_path / f"serve-{time.monotonic_ns()}.stderr"
    stderr: IO[str] = stderr_path.open("w")
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True, env=full_env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            proc.wait(timeout=60)
            raise AssertionError(f"serve exited {proc.returncode}: {stderr_path.read_text()}")
        started: dict[str, Any] = json.loads(line)
        yield Served(proc, started["port"], started["http_port"], started["metrics_port"], stderr_path)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        stderr.close()


def run_serve(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``mathreward serve ARGS`` expected to exit by itself (a start-up error)."""
    return subprocess.run(
        [sys.executable, "-m", "mathreward", "serve", "--log-level", "WARNING", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )  # fmt: skip
