r"""Benchmark: the gRPC service against the engines called in process (the anchor), in one run.

1. Serving overhead: the same 256-pair batches through ``verifier.verify_batch`` in this process and
   through a real ``mathreward serve`` subprocess on loopback (``Client.verify_batch``), interleaved
   round by round so that load from elsewhere on the machine hits both alike; medians, and the
   verdicts compared pair by pair. Target: overhead under 20% of the in-process time.
2. Load: concurrent clients (one channel each) sending 32-pair batches for a fixed time; pairs/s
   against the in-process batch throughput, and per-call latency p50/p99.
3. PRM batching: the same single-solution ScoreSteps requests one at a time, then all at once (the
   server's dynamic batcher merges them); solutions/s and the gain.

Pairs: fixtures/verifier_responses.jsonl (realistic whole responses), cycled. The PRM is the tiny
Math-Shepherd fixture on the CPU unless ``--prm-model`` names another checkpoint. Writes the figures
as JSON to bench/out/service.json.

    .venv/bin/python bench/service.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESPONSES = ROOT / "fixtures" / "verifier_responses.jsonl"
OUT = ROOT / "bench" / "out" / "service.json"
BATCH = 256


def load_pairs() -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in RESPONSES.read_text().splitlines() if line.strip()]
    return [(r["pred"], r["ref"]) for r in rows]


def batches(pairs: list[tuple[str, str]], n: int, size: int) -> list[list[tuple[str, str]]]:
    out = []
    for b in range(n):
        out.append([pairs[(b * size + k) % len(pairs)] for k in range(size)])
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def start_server(args: argparse.Namespace, prm_model: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    command = [
        sys.executable, "-m", "mathreward", "serve", "--port", "0", "--log-level", "WARNING",
        "--prm-model", str(prm_model), "--prm-device", args.prm_device, "--max-items", "4096",
        "--metrics-port", "0",
    ]  # fmt: skip
    command += ["--chunk-items", str(args.chunk_items)]
    if args.workers is not None:
        command += ["--workers", str(args.workers)]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    return proc, info


def overhead(args: argparse.Namespace, client: Any, rounds: list[list[tuple[str, str]]]) -> dict[str, Any]:
    from verifier import verify_batch

    def local(batch: list[tuple[str, str]]) -> list[Any]:
        return verify_batch(batch, workers=args.workers)

    local(rounds[0])  # start this process's pool
    client.verify_batch(rounds[0])  # and the server's
    local_s, remote_s, mismatches = [], [], 0
    for k, batch in enumerate(rounds):
        # alternate which side goes first, so a slow spell elsewhere on the machine favours neither
        order = [("local", local), ("remote", client.verify_batch)]
        got: dict[str, Any] = {}
        for name, fn in order if k % 2 == 0 else order[::-1]:
            t = time.perf_counter()
            got[name] = fn(batch)
            (local_s if name == "local" else remote_s).append(time.perf_counter() - t)
        mismatches += sum(
            (a.status, a.method, a.reason) != (b.status, b.method, b.reason)
            for a, b in zip(got["local"], got["remote"], strict=True)
        )
    local_med, remote_med = statistics.median(local_s), statistics.median(remote_s)
    ratios = [r / lo for r, lo in zip(remote_s, local_s, strict=True)]
    return {
        "batches": len(rounds),
        "batch_size": BATCH,
        "in_process_median_s": local_med,
        "server_median_s": remote_med,
        # the median of the per-round ratios: each round's two runs are back to back
        "overhead": statistics.median(ratios) - 1,
        "in_process_pairs_per_s": BATCH / local_med,
        "server_pairs_per_s": BATCH / remote_med,
        "verdict_mismatches": mismatches,
    }


async def load(
    target: str, pairs: list[tuple[str, str]], clients: int, seconds: float, size: int
) -> dict[str, Any]:
    from mathreward import AsyncClient

    latencies: list[float] = []
    done = 0
    until = time.perf_counter() + seconds

    async def one(k: int) -> None:
        nonlocal done
        async with AsyncClient(target, timeout=300) as c:
            i = k * size
            while time.perf_counter() < until:
                batch = [pairs[(i + j) % len(pairs)] for j in range(size)]
                i += size * clients
                t = time.perf_counter()
                await c.verify_batch(batch)
                latencies.append(time.perf_counter() - t)
                done += size

    started = time.perf_counter()
    await asyncio.gather(*(one(k) for k in range(clients)))
    wall = time.perf_counter() - started
    return {
        "clients": clients,
        "pairs_per_call": size,
        "calls": len(latencies),
        "pairs_per_s": done / wall,
        "p50_s": pct(latencies, 0.5),
        "p99_s": pct(latencies, 0.99),
    }


def prm_batches(metrics_port: int) -> tuple[float, float]:
    """(model batches, solutions in them) so far, from the server's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
        page = response.read().decode()
    found = {"count": 0.0, "sum": 0.0}
    for line in page.splitlines():
        for kind in found:
            if line.startswith(f'mathreward_batch_size_{kind}{{engine="prm"}}'):
                found[kind] = float(line.rsplit(" ", 1)[1])
    return found["count"], found["sum"]


async def prm_batching(
    target: str, metrics_port: int, solutions: list[tuple[str, list[str]]], rounds: int
) -> dict[str, Any]:
    from mathreward import AsyncClient

    sequential, concurrent = [], []
    batches = solved = 0.0
    async with AsyncClient(target, timeout=600) as c:
        for q, steps in solutions[:4]:  # warm-up
            await c.score_steps(q, steps)
        for _ in range(rounds):  # interleaved, so that load from elsewhere hits both alike
            t = time.perf_counter()
            for q, steps in solutions:
                await c.score_steps(q, steps)
            sequential.append(time.perf_counter() - t)
            b0, s0 = prm_batches(metrics_port)
            t = time.perf_counter()
            await asyncio.gather(*(c.score_steps(q, steps) for q, steps in solutions))
            concurrent.append(time.perf_counter() - t)
            b1, s1 = prm_batches(metrics_port)
            batches, solved = batches + b1 - b0, solved + s1 - s0
    seq, conc = statistics.median(sequential), statistics.median(concurrent)
    return {
        "requests": len(solutions),
        "rounds": rounds,
        "one_at_a_time_per_s": len(solutions) / seq,
        "concurrent_per_s": len(solutions) / conc,
        "gain": seq / conc,
        "concurrent_mean_batch": solved / batches if batches else 0.0,
    }


def wait_prm(client: Any) -> None:
    client.wait_ready("mathreward.v1.ProcessRewardService", timeout=600)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8, help="256-pair batches, each run both ways")
    parser.add_argument(
        "--workers", type=int, default=None, help="sandbox workers, both sides (default: all cores)"
    )
    parser.add_argument("--chunk-items", type=int, default=64, help="the server's --chunk-items")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients in the load run")
    parser.add_argument("--load-seconds", type=float, default=15.0, help="length of the load run")
    parser.add_argument(
        "--prm-model", type=Path, default=None, help="PRM checkpoint (default: the tiny fixture)"
    )
    parser.add_argument("--prm-device", default="cpu")
    parser.add_argument("--prm-rounds", type=int, default=3, help="rounds of the PRM comparison (medians)")
    parser.add_argument("--prm-requests", type=int, default=64, help="single-solution ScoreSteps requests")
    args = parser.parse_args(argv)

    from mathreward import Client
    from prm import split_steps

    prm_model = args.prm_model
    if prm_model is None:
        from fixtures.make_tiny_models import ensure_built

        prm_model = ensure_built()["math-shepherd"]
    pairs = load_pairs()
    solutions = []
    for pred, _ in pairs:
        steps = split_steps(pred)
        if 2 <= len(steps) <= 12:
            solutions.append(("Solve the problem.", steps))
    solutions = (solutions * (1 + args.prm_requests // max(1, len(solutions))))[: args.prm_requests]

    proc, info = start_server(args, prm_model)
    target = f"127.0.0.1:{info['port']}"
    try:
        with Client(target, timeout=600) as client:
            client.wait_ready("", timeout=600)
            over = overhead(args, client, batches(pairs, args.rounds, BATCH))
            wait_prm(client)
        loaded = asyncio.run(load(target, pairs, args.clients, args.load_seconds, 32))
        batching = asyncio.run(prm_batching(target, info["metrics_port"], solutions, args.prm_rounds))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)

    result = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "workers": args.workers,
        "chunk_items": args.chunk_items,
        "overhead": over,
        "load": loaded,
        "prm_batching": batching,
        "prm_model": str(prm_model),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")

    o, ld, b = over, loaded, batching
    base = o["in_process_pairs_per_s"]
    rows = [
        (
            f"{BATCH}-pair verify batch, median of {o['batches']} (s)",
            f"{o['in_process_median_s']:.3f}",
            f"{o['server_median_s']:.3f}",
            f"{1 + o['overhead']:.3f} (per-round median, overhead {o['overhead'] * 100:+.1f}%, target <+20%)",
        ),
        (f"pairs/s, {BATCH}-pair batches", f"{base:.0f}", f"{o['server_pairs_per_s']:.0f}",
         f"{o['server_pairs_per_s'] / base:.2f}"),
        (f"load: {ld['clients']} clients x {ld['pairs_per_call']}-pair calls, pairs/s", f"{base:.0f}",
         f"{ld['pairs_per_s']:.0f}", f"{ld['pairs_per_s'] / base:.2f}"),
        ("load: call latency p50 / p99 (s)", "", f"{ld['p50_s']:.3f} / {ld['p99_s']:.3f}", ""),
        (f"PRM: {b['requests']} single-solution requests, solutions/s, median of {b['rounds']}",
         f"{b['one_at_a_time_per_s']:.1f} (one at a time)", f"{b['concurrent_per_s']:.1f} (concurrent)",
         f"{b['gain']:.2f}x batching gain"),
        ("PRM: solutions per model batch", "1 (one at a time)",
         f"{b['concurrent_mean_batch']:.1f} (concurrent)", ""),
    ]  # fmt: skip
    print(f"\nmathreward service benchmark ({os.cpu_count()} CPUs, workers={args.workers or 'all'})\n")
    print("| measure | anchor: in process | through the server | ratio |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nverdict mismatches server vs in process: {o['verdict_mismatches']} of {o['batches'] * BATCH}")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
