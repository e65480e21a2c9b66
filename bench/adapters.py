r"""Benchmark: what each trainer path costs on top of ``verifier.verify_batch`` in process (the anchor).

The same 256 realistic (response, reference) pairs (fixtures/verifier_responses.jsonl, cycled) go
through every path a trainer can take, in one run:

- anchor: ``verifier.verify_batch(pairs)`` in this process;
- verl ``compute_score`` one call per sample (the reward loop's naive manager calls it per sample,
  in a thread), and ``compute_score_async`` for all samples gathered on one event loop (as the
  reward loop awaits it);
- verl ``compute_score`` per sample through a real ``mathreward serve`` subprocess on loopback (gRPC);
- OpenRLHF ``POST /get_reward`` (one batch, httpx) and slime ``POST /slime/reward`` (one sample per
  request, 16 in flight on one aiohttp session, as slime's ``remote_rm`` sends them) on the same
  server's ``--http-port``.

The paths take turns, ``--repeats`` rounds after one warm-up round; the table shows the median
pairs/s, the ratio to the anchor, and checks every path gave the anchor's rewards. Writes
bench/out/adapters.json.

    .venv/bin/python -m bench.adapters [--pairs 256] [--repeats 5] [--workers N]
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from mathreward.adapters import verl as verl_adapter  # noqa: E402
from verifier import verify_batch  # noqa: E402

OUT = ROOT / "bench" / "out" / "adapters.json"


def load_pairs(n: int) -> list[tuple[str, str]]:
    rows = [
        json.loads(line) for line in (ROOT / "fixtures" / "verifier_responses.jsonl").open() if line.strip()
    ]
    return [(rows[i % len(rows)]["pred"], rows[i % len(rows)]["ref"]) for i in range(n)]


def start_server(workers: int | None) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    cmd = [
        sys.executable,
        "-m",
        "mathreward",
        "serve",
        "--port",
        "0",
        "--http-port",
        "0",
        "--log-level",
        "WARNING",
    ]
    if workers:
        cmd += ["--workers", str(workers)]
    env = {k: v for k, v in os.environ.items() if k not in ("MATHREWARD_TOKEN", "MATHREWARD_SERVER")}
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise SystemExit("mathreward serve did not start")
    return proc, json.loads(line)


def run_interleaved(
    paths: dict[str, Callable[[], list[float]]], repeats: int
) -> dict[str, tuple[float, list[float]]]:
    """Median seconds and last rewards of each path; the paths take turns in every round, so a burst
    of load from elsewhere on the machine hits them all alike."""
    rewards = {name: fn() for name, fn in paths.items()}  # warm-up: pools started, channels connected
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(repeats):
        for name, fn in paths.items():
            t0 = time.perf_counter()
            rewards[name] = fn()
            times[name].append(time.perf_counter() - t0)
    return {name: (statistics.median(times[name]), rewards[name]) for name in paths}


async def _slime_concurrent(base: str, pairs: list[tuple[str, str]], in_flight: int) -> list[float]:
    """What slime's remote_rm does: one aiohttp POST per sample on a shared session, many at once."""
    import aiohttp

    sem = asyncio.Semaphore(in_flight)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:

        async def one(pred: str, ref: str) -> float:
            async with (
                sem,
                session.post(
                    f"{base}/slime/reward", json={"prompt": "", "response": pred, "label": ref}
                ) as r,
            ):
                return float((await r.json())["score"])

        return list(await asyncio.gather(*(one(p, r) for p, r in pairs)))


async def _verl_async(pairs: list[tuple[str, str]]) -> list[float]:
    results = await asyncio.gather(*(verl_adapter.compute_score_async("math", p, r) for p, r in pairs))
    return [float(r["score"]) for r in results]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=None, help="sandbox workers (default: all cores)")
    args = parser.parse_args()
    os.environ.pop("MATHREWARD_SERVER", None)
    pairs = load_pairs(args.pairs)
    preds = [p for p, _ in pairs]
    refs = [r for _, r in pairs]
    n = len(pairs)

    proc, info = start_server(args.workers)
    target = f"127.0.0.1:{info['port']}"
    base = f"http://127.0.0.1:{info['http_port']}"
    http = httpx.Client(base_url=base, timeout=300)
    try:
        paths: dict[str, Callable[[], list[float]]] = {
            # the adapters' default rewards: +1 right, -1 anything else
            "anchor: verify_batch in process": lambda: [
                1.0 if v.correct else -1.0 for v in verify_batch(pairs, workers=args.workers)
            ],
            "verl compute_score x N, in process": lambda: [
                verl_adapter.compute_score("math", p, r)["score"] for p, r in pairs
            ],
            "verl compute_score_async x N gathered, in process": lambda: asyncio.run(_verl_async(pairs)),
            "verl compute_score x N, gRPC server": lambda: [
                verl_adapter.compute_score("math", p, r, server=target)["score"] for p, r in pairs
            ],
            "OpenRLHF POST /get_reward (one batch)": lambda: list(
                http.post("/get_reward", json={"query": preds, "prompts": [""] * n, "labels": refs}).json()[
                    "rewards"
                ]
            ),
            "slime POST /slime/reward (1 per request, 16 in flight)": lambda: asyncio.run(
                _slime_concurrent(base, pairs, 16)
            ),
        }
        results: dict[str, dict[str, Any]] = {
            name: {"seconds": seconds, "pairs_per_s": n / seconds, "rewards": rewards}
            for name, (seconds, rewards) in run_interleaved(paths, args.repeats).items()
        }
    finally:
        http.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)

    anchor_name = next(iter(results))
    anchor = results[anchor_name]
    print(f"{n} pairs, median of {args.repeats} runs, {os.cpu_count()} CPUs, {platform.python_version()}")
    print(f"{'path':58} {'pairs/s':>9} {'x anchor':>9}  same rewards")
    for name, r in results.items():
        same = r["rewards"] == anchor["rewards"]
        ratio = r["pairs_per_s"] / anchor["pairs_per_s"]
        print(f"{name:58} {r['pairs_per_s']:9.1f} {ratio:9.2f}  {'yes' if same else 'NO'}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        name: {k: v for k, v in r.items() if k != "rewards"}
        | {"same_rewards": r["rewards"] == anchor["rewards"]}
        for name, r in results.items()
    }
    OUT.write_text(
        json.dumps({"pairs": n, "repeats": args.repeats, "cpus": os.cpu_count(), "paths": summary}, indent=2)
    )
    return 0 if all(r["rewards"] == anchor["rewards"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
