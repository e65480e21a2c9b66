r"""Benchmark: Math-Shepherd annotation throughput, pipelined vs a naive loop, and the verifier's share.

Anchor: the naive annotation loop (as first written in most Math-Shepherd reproductions): for each
prefix, for each of the n rollouts, one completions request with n=1, then ``verify`` on that one
rollout, all in sequence. Ours (``prm.annotate.annotate``, what ``mathreward annotate`` runs): every
prefix of every solution in flight at once (``--concurrency``), n samples per request, rollouts verified
in batches through the verifier's process pool (``mathreward.backend.LocalBackend``, as the CLI does)
while the other requests are still generating.

The policy is the scripted one of the tests (tests/prm/scripted_policy.py) on a loopback HTTP server,
with a fixed latency per request and per sample standing in for the GPU (printed with the results),
and every rollout's text distinct (as a sampling policy's are: no verdict is shared between them).

The verifier's share of the pipelined run is the wall time it adds: 1 - (wall time of the same run
with a verifier that costs nothing) / (wall time), medians of ``--repeats`` alternating runs. Its
time inside verify calls is printed too; it overlaps generation, so it overstates what verifying
costs. For the naive loop, which verifies in
sequence, the share is its time inside ``verify``.
The scripted policy answers a quota of right rollouts per request, so the naive loop (n=1 requests)
gets other labels: this benchmark compares time, not labels (the tests check the labels).

    .venv/bin/python bench/annotate.py [--solutions 40] [--steps 6] [--n 8] [--naive-solutions 4]

Writes bench/out/annotate.json.

``--ray-compare W1,W2``: ``mathreward annotate`` as a user runs it, a fresh CLI process each time, the
local engine with ``--workers W`` against the Ray engine with ``--ray-actors W`` (a local Ray started
by the run), runs interleaved, on one input file and one policy server. Prints the cold wall time (the
process, Ray's start included) and the job's own time, as ratios to the local engine at the same W,
whether the output file is the local engine's byte for byte, and how many requests the policy's own log
shows asked twice. Writes bench/out/annotate_ray.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# first, ahead of bench/ itself, whose prm.py would shadow the prm package
sys.path.insert(0, str(ROOT))

from mathreward.backend import LocalBackend  # noqa: E402
from prm.annotate import RolloutConfig, Solution, Timing, annotate, prefix_text, render_prompt  # noqa: E402
from prm.generate import HTTPOptions, OpenAICompletions, Request, SamplingParams, open_generator  # noqa: E402
from tests.prm.scripted_policy import STATES, ScriptedServer  # noqa: E402
from verifier import Method, Status, Verdict, VerifyConfig, verify  # noqa: E402
from verifier.sandbox import warm_up  # noqa: E402

OUT = ROOT / "bench" / "out" / "annotate.json"


def make_solutions(count: int, steps: int, seed: int = 0) -> list[Solution]:
    rng = random.Random(seed)
    words = [*STATES, "so", "then", "we", "have"]
    out = []
    for i in range(count):
        key = rng.randint(1, 999)
        body = [" ".join(rng.choice(words) for _ in range(6)) for _ in range(steps - 1)]
        final = f"so \\boxed{{{key if rng.random() < 0.5 else key + 1}}}"
        out.append(Solution(f"Problem {i}: compute it. key={key}", str(key), (*body, final)))
    return out


def no_verifier(pairs: Any, questions: Any = None) -> list[Verdict]:
    """A verifier that costs nothing (every rollout wrong): the pipeline's wall time without verifying."""
    return [Verdict(Status.INCORRECT, Method.NONE, None, None, "not verified") for _ in pairs]


def run_pipelined(
    url: str, sols: list[Solution], n: int, concurrency: int, *, free: bool = False
) -> dict[str, Any]:
    config = RolloutConfig(SamplingParams(n=n, max_tokens=256, seed=1))
    gen = open_generator(url, "scripted", http=HTTPOptions(concurrency=concurrency))
    verify_batch = no_verifier if free else LocalBackend(VerifyConfig()).verify_batch
    timing = Timing()
    t0 = time.perf_counter()
    annotate(sols, gen, config, verify_batch, timing)
    wall = time.perf_counter() - t0
    gen.close()
    return {
        "wall_s": wall,
        "rollouts": timing.rollouts,
        "requests": gen.sent,
        "verify_s": timing.verify_s,
        "generate_wait_s": timing.generate_s,
    }


def run_naive(url: str, sols: list[Solution], n: int) -> dict[str, Any]:
    """One request per rollout (n=1), each rollout verified on its own, in sequence."""
    config = RolloutConfig(SamplingParams(n=1, max_tokens=256, seed=1))
    gen = OpenAICompletions(url, "scripted", HTTPOptions(concurrency=1))
    verify_s = 0.0
    rollouts = 0
    t0 = time.perf_counter()
    for s in sols:
        head = render_prompt(config.template, s.question)
        for k in range(1, len(s.steps)):
            prefix = prefix_text(s.steps, k, config.step_sep)
            for j in range(n):
                params = SamplingParams(n=1, max_tokens=256, seed=j)
                ((_, texts),) = list(gen.stream([Request(head + prefix, params)]))
                v0 = time.perf_counter()
                verify(prefix + texts[0], s.reference, question=s.question)
                verify_s += time.perf_counter() - v0
                rollouts += 1
        verify(config.step_sep.join(s.steps), s.reference, question=s.question)
    wall = time.perf_counter() - t0
    gen.close()
    return {"wall_s": wall, "rollouts": rollouts, "requests": rollouts, "verify_s": verify_s}


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]


def ray_compare(args: argparse.Namespace) -> int:
    import subprocess
    import tempfile

    widths = [int(w) for w in args.ray_compare.split(",")]
    a, b, c = args.settings.split(";")[0].split(",")
    per_req, per_sample, concurrency = float(a), float(b), int(c)
    sols = make_solutions(args.solutions, args.steps)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    print(
        f"annotate, local engine vs Ray engine: {args.solutions} solutions x {args.steps} steps, n={args.n}; "
        f"policy {per_req:g} s per request + {per_sample:g} s per sample, --concurrency {concurrency}; "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    header = (
        f"{'W':>3} | {'engine':>6} | {'cold wall s':>11} | {'job s':>7} | {'rollouts/s (job)':>16} | "
        f"{'cold / local':>12} | {'job speed / local':>17} | identical | asked twice"
    )
    print(header)
    print("-" * len(header))
    results: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        ScriptedServer(delay_s=per_req, per_sample_s=per_sample, distinct=True) as srv,
    ):
        data = Path(tmp) / "sols.jsonl"
        data.write_text(
            "".join(
                json.dumps({"id": i, "question": s.question, "answer": s.reference, "steps": list(s.steps)})
                + "\n"
                for i, s in enumerate(sols)
            )
        )

        def one(engine: str, width: int, rep: int) -> dict[str, Any]:
            out = Path(tmp) / f"{engine}{width}-{rep}.jsonl"
            flags = (
                ["--workers", str(width)]
                if engine == "local"
                else ["--engine", "ray", "--ray-actors", str(width)]
            )
            cmd = [sys.executable, "-m", "mathreward", "annotate", str(data), "-o", str(out)]
            cmd += ["--generator", srv.base_url, "--model", "scripted", "--n", str(args.n), "--seed", "1"]
            cmd += ["--max-tokens", "256", "--concurrency", str(concurrency), "--json", "--progress", "none"]
            srv.log.requests.clear()
            t0 = time.perf_counter()
            proc = subprocess.run([*cmd, *flags], capture_output=True, text=True, env=env, cwd=ROOT)
            cold = time.perf_counter() - t0
            asked = srv.log.entries()  # what the policy was asked, by its own log
            if proc.returncode != 0:
                raise SystemExit(f"{engine} W={width} failed:\n{proc.stderr[-3000:]}")
            summary = json.loads(proc.stdout)
            return {
                "engine": engine,
                "width": width,
                "cold_s": cold,
                "job_s": summary["wall_s"],
                "rollouts": summary["rollouts"],
                "requests_sent": summary["requests_sent"],
                "policy_asked": len(asked),
                "policy_asked_twice": len(asked) - len(set(asked)),
                "output": out.read_bytes(),
            }

        for width in widths:
            runs: dict[str, list[dict[str, Any]]] = {"local": [], "ray": []}
            for rep in range(args.repeats):
                for engine in ("local", "ray"):
                    runs[engine].append(one(engine, width, rep))
            reference = runs["local"][0]["output"]
            local = {
                k: sorted(r[k] for r in runs["local"])[len(runs["local"]) // 2] for k in ("cold_s", "job_s")
            }
            for engine in ("local", "ray"):
                rs = runs[engine]
                med = {k: sorted(r[k] for r in rs)[len(rs) // 2] for k in ("cold_s", "job_s")}
                same = all(r["output"] == reference for r in rs)
                rate = rs[0]["rollouts"] / med["job_s"]
                cold_ratio, job_ratio = med["cold_s"] / local["cold_s"], local["job_s"] / med["job_s"]
                times = f"{med['cold_s']:11.1f} | {med['job_s']:7.1f} | {rate:16.1f}"
                ratios = f"{cold_ratio:11.2f}x | {job_ratio:16.2f}x"
                twice = sum(r["policy_asked_twice"] for r in rs)
                print(f"{width:3d} | {engine:>6} | {times} | {ratios} | {same} | {twice}")
                results.append(
                    {
                        "width": width,
                        "engine": engine,
                        "cold_s": [r["cold_s"] for r in rs],
                        "job_s": [r["job_s"] for r in rs],
                        "rollouts": rs[0]["rollouts"],
                        "requests_sent": [r["requests_sent"] for r in rs],
                        "policy_asked": [r["policy_asked"] for r in rs],
                        "policy_asked_twice": [r["policy_asked_twice"] for r in rs],
                        "identical_to_local": same,
                    }
                )
    out = ROOT / "bench" / "out" / "annotate_ray.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"args": vars(args), "cpus": os.cpu_count(), "results": results}, indent=2) + "\n"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--solutions", type=int, default=40)
    ap.add_argument("--naive-solutions", type=int, default=4, help="the naive loop runs on the first few")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument(
        "--settings",
        type=str,
        default="0.05,0.005,64;1.0,0.05,16",
        help="'per_request_s,per_sample_s,concurrency' of the stand-in server, ';'-separated",
    )
    ap.add_argument("--repeats", type=int, default=3, help="pipelined runs with and without the verifier")
    ap.add_argument(
        "--ray-compare",
        metavar="W1,W2",
        default=None,
        help="instead: the CLI's local engine (--workers W) against its Ray engine (--ray-actors W), on the "
        "first --settings entry",
    )
    args = ap.parse_args(argv)
    if args.ray_compare:
        return ray_compare(args)

    warm_up(VerifyConfig().memory_mb)  # the pool starts once per process; not part of either side
    sols = make_solutions(args.solutions, args.steps)
    results = []
    print(
        f"annotate benchmark: {args.solutions} solutions x {args.steps} steps, n={args.n}; naive loop on "
        f"the first {args.naive_solutions}; {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    header = (
        f"{'latency req, sample; conc.':>26} | {'method':>9} | {'rollouts':>8} | {'requests':>8} | "
        f"{'wall s':>7} | {'rollouts/s':>10} | {'in verify s':>11} | {'verifier share':>14}"
    )
    print(header)
    print("-" * len(header))
    for spec in args.settings.split(";"):
        a, b, c = spec.split(",")
        per_req, per_sample, concurrency = float(a), float(b), int(c)
        with ScriptedServer(delay_s=per_req, per_sample_s=per_sample, distinct=True) as srv:
            # alternating runs with and without the verifier; the median of each (a shared machine is noisy)
            runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
            for _ in range(args.repeats):
                for without in (False, True):
                    r = run_pipelined(srv.base_url, sols, args.n, concurrency, free=without)
                    runs[without].append(r)
            ours, free = (median_run(runs[w]) for w in (False, True))
            ours["walls_s"] = [r["wall_s"] for r in runs[False]]
            free["walls_s"] = [r["wall_s"] for r in runs[True]]
            naive = run_naive(srv.base_url, sols[: args.naive_solutions], args.n)
        # the verifier's share: the wall time it adds (the same run with a verifier that costs nothing);
        # the naive loop verifies in sequence, so its share is its time inside verify
        ours["verify_share"] = max(0.0, 1 - free["wall_s"] / ours["wall_s"])
        naive["verify_share"] = naive["verify_s"] / naive["wall_s"]
        ours["wall_s_without_verifier"] = free["wall_s"]
        ours["walls_s_without_verifier"] = free["walls_s"]
        for name, r in (("pipelined", ours), ("naive", naive)):
            r["rollouts_per_s"] = r["rollouts"] / r["wall_s"]
            setting = f"{per_req:g} s, {per_sample:g} s; {concurrency}"
            print(
                f"{setting:>26} | {name:>9} | {r['rollouts']:8d} | {r['requests']:8d} | "
                f"{r['wall_s']:7.2f} | {r['rollouts_per_s']:10.1f} | "
                f"{r['verify_s']:11.2f} | {100 * r['verify_share']:13.1f}%"
            )
        speedup = ours["rollouts_per_s"] / naive["rollouts_per_s"]
        print(
            f"{'':>26} | {'ratio':>9} | pipelined/naive rollouts per second: {speedup:.1f}x; "
            f"pipelined wall s, median of {args.repeats}, with the verifier "
            f"{ours['wall_s']:.2f} ({', '.join(f'{w:.2f}' for w in ours['walls_s'])}), with a free one "
            f"{free['wall_s']:.2f} ({', '.join(f'{w:.2f}' for w in free['walls_s'])})"
        )
        results.append(
            {
                "per_request_s": per_req,
                "per_sample_s": per_sample,
                "concurrency": concurrency,
                "pipelined": ours,
                "naive": naive,
                "speedup": speedup,
            }
        )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {"args": vars(args), "platform": platform.platform(), "cpus": os.cpu_count(), "results": results},
            indent=2,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
