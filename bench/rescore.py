"""Rescoring throughput: a 10,000-response dataset, in process, from 1 worker to all cores.

    .venv/bin/python bench/rescore.py [--responses 10000] [--workers 1,2,...] [--ray]

The dataset is fixtures/datasets/make_datasets.py's generator with more problems (4 responses each,
GSM8K and MATH styles). Each row of the table is one whole ``rescore`` run (read, verify, group answers
for maj@k, write parts, checkpoints, assemble the output, summary), the same pipeline as the CLI.
The anchor is the field's usual loop: Math-Verify's ``verify(parse(gold), parse(pred))`` over the same
pairs, one process. Ratios are against the anchor and against our 1-worker run; "agree" is the share
of responses on which our verdict equals Math-Verify's. Each worker count runs ``--repeat`` times (the
fastest is shown: the machine may be shared); the anchor runs once.

``--ray`` adds the Ray engine (``rescore --engine ray``) on a local Ray with this machine's CPUs,
started once: the same worker counts as CPU actors, each run timed whole (the actor pool starts in
every run: that is the engine's overhead against the local one), and "same rows" checks its output
byte for byte against the local engine's.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out" / "rescore"


def load_generator():
    script = ROOT / "fixtures" / "datasets" / "make_datasets.py"
    spec = importlib.util.spec_from_file_location("make_datasets", script)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def make_dataset(responses: int, bad_every: int = 0) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"bench_{responses}.jsonl"
    load_generator().write_generated(path, responses // 4, seed=7, n=4, bad_every=bad_every)
    return path


def run_ours(path: Path, workers: int) -> tuple[float, list[bool], dict]:
    from mathreward.backend import LocalBackend
    from mathreward.rescore import RescoreOptions, run_rescore
    from verifier.sandbox import shutdown_pools

    out = OUT / f"out_w{workers}.jsonl"
    shutdown_pools()  # each run starts its own pool of `workers` processes, as a fresh CLI run does
    t0 = time.perf_counter()
    with open(os.devnull, "w") as devnull:
        summary = run_rescore(
            RescoreOptions(input=path, output=out, progress="none"),
            LocalBackend(workers=workers),
            stream=devnull,
        )
    wall = time.perf_counter() - t0
    correct = [c for line in out.read_text().splitlines() for c in json.loads(line)["correct"]]
    return wall, correct, summary.to_dict()


def run_ray(path: Path, actors: int, local_out: Path) -> tuple[float, bool, dict]:
    from mathreward.rescore import RescoreOptions, run_rescore
    from mathreward.rescore.ray_engine import RayEngine
    from verifier import VerifyConfig

    out = OUT / f"out_ray{actors}.jsonl"
    t0 = time.perf_counter()
    with open(os.devnull, "w") as devnull:
        summary = run_rescore(
            RescoreOptions(input=path, output=out, progress="none"),
            RayEngine(VerifyConfig(), actors=actors),
            stream=devnull,
        )
    wall = time.perf_counter() - t0
    same = out.read_bytes() == local_out.read_bytes()
    return wall, same, summary.to_dict()


def run_math_verify(path: Path) -> tuple[float, list[bool]]:
    from math_verify import parse, verify

    rows = [json.loads(line) for line in path.read_text().splitlines()]
    t0 = time.perf_counter()
    out = []
    for r in rows:
        gold = parse("$" + r["answer"].replace("####", "").strip() + "$")
        for resp in r["responses"]:
            out.append(bool(verify(gold, parse(resp))))
    return time.perf_counter() - t0, out


# summary fields that differ between two runs by nature: timing, and the paths written
NOT_COMPARED = {"elapsed_s", "throughput", "responses_per_s", "rows_per_s", "output", "rejects_path"}


def same_rows(a: Path, b: Path) -> tuple[int, int, int | None]:
    """(rows equal, rows in ``a``, the first line that differs): JSONL files compared row for row
    (byte for byte, and where the bytes differ, as parsed JSON)."""
    equal, total, first = 0, 0, None
    with open(a, "rb") as fa, open(b, "rb") as fb:
        for i, (la, lb) in enumerate(itertools.zip_longest(fa, fb)):
            total += la is not None
            if la is not None and lb is not None and (la == lb or json.loads(la) == json.loads(lb)):
                equal += 1
            elif first is None:
                first = i + 1
    return equal, total, first


def summary_diff(a: dict, b: dict) -> list[str]:
    return sorted(k for k in a.keys() | b.keys() if k not in NOT_COMPARED and a.get(k) != b.get(k))


def ray_compare(rows: int, counts: list[int], cores: int, repeat: int) -> int:
    """``--ray-compare ROWS``: a generated set (a bad row after every 1000) rescored by the local engine
    and by the Ray engine at each count, ``repeat`` times (local and Ray interleaved, so a busy spell
    of the shared machine hits both alike); every run's output is compared row for row with the first
    local run's. Prints agreement and the fastest run of each."""
    import ray

    from mathreward.backend import LocalBackend
    from mathreward.rescore import RescoreOptions, run_rescore
    from mathreward.rescore.ray_engine import RayEngine
    from verifier import VerifyConfig
    from verifier.sandbox import shutdown_pools

    path = make_dataset(rows * 4, bad_every=1000)
    print(
        f"# rescore --engine ray against the local engine: {rows} generated rows x 4 responses "
        f"(seed 7) + {rows // 1000} bad rows, {cores} cores, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, Ray {ray.__version__}; fastest of {repeat}"
    )
    load_before = os.getloadavg()[0]
    ref: tuple[Path, bytes, dict] | None = None  # the first local run: output, rejects, summary
    walls: dict[tuple[str, int], list[float]] = {}
    agree: dict[tuple[str, int], list[str]] = {}  # per run: "" when it agrees, else what differs

    def run(name: str, count: int, engine: Any) -> None:
        nonlocal ref
        out = OUT / f"cmp_{name}{count}.jsonl"
        t0 = time.perf_counter()
        with open(os.devnull, "w") as devnull:
            opts = RescoreOptions(input=path, output=out, progress="none")
            summary = run_rescore(opts, engine, stream=devnull).to_dict()
        walls.setdefault((name, count), []).append(time.perf_counter() - t0)
        rejects_path = out.with_name(out.stem + ".rejects.jsonl")
        rejects = rejects_path.read_bytes() if rejects_path.exists() else b""
        if ref is None:
            ref = (out.with_name("cmp_reference.jsonl"), rejects, summary)
            shutil.copyfile(out, ref[0])
        equal, total, first = same_rows(ref[0], out)
        problems = []
        if not equal == total == rows:
            problems.append(f"rows {equal}/{total}, first difference at line {first}")
        if out.read_bytes() != ref[0].read_bytes():
            problems.append("bytes differ")
        if rejects != ref[1]:
            problems.append("rejects differ")
        if diff := summary_diff(ref[2], summary):
            problems.append("summary differs: " + ", ".join(diff))
        agree.setdefault((name, count), []).append("; ".join(problems))
        shutil.rmtree(out.with_name(out.name + ".rescore-state"), ignore_errors=True)

    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=cores, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - t0
    try:
        for _ in range(max(1, repeat)):
            for w in counts:
                shutdown_pools()  # each local run starts its own pool, as a fresh CLI run does
                run("local", w, LocalBackend(workers=w))
                shutdown_pools()
                run("ray", w, RayEngine(VerifyConfig(), actors=w))
    finally:
        ray.shutdown()
    print(
        f"# load average (1 min) before the runs {load_before:.1f}, after {os.getloadavg()[0]:.1f} "
        f"(other processes on this machine share its {cores} cores); starting Ray took {ray_start:.1f} s "
        "(not in the Ray rows; each Ray row counts starting its actor pool)"
    )
    print()
    print(
        "| engine | workers / CPU actors | wall s (fastest) | all runs, s | responses/s "
        "| vs local, same count | rows, rejects, summary equal to the first local run |"
    )
    print("|---|---:|---:|---|---:|---:|---|")
    ok = True
    for (name, count), times in walls.items():
        wall = min(times)
        vs = "-" if name == "local" else f"{min(walls[('local', count)]) / wall:.2f}x"
        problems = [p for p in agree[(name, count)] if p]
        ok &= not problems
        same = (
            f"yes, {rows} rows byte for byte ({len(times)} runs)"
            if not problems
            else "NO: " + " | ".join(problems)
        )
        runs = ", ".join(f"{t:.1f}" for t in times)
        print(f"| {name} | {count} | {wall:.1f} | {runs} | {rows * 4 / wall:.0f} | {vs} | {same} |")
    assert ref is not None
    print()
    print(
        f"accuracy {ref[2]['accuracy']:.4f}, rejected rows {ref[2]['rejected_rows']}, "
        f"statuses {ref[2]['statuses']}"
    )
    print("all runs agree row for row" if ok else "RUNS DISAGREE")
    shutil.rmtree(OUT, ignore_errors=True)
    return 0 if ok else 1


def main() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--responses", type=int, default=10_000)
    p.add_argument("--workers", default=None, help="comma-separated worker counts (default: 1, 2, 4.. cores)")
    p.add_argument("--no-anchor", action="store_true", help="skip the Math-Verify loop")
    p.add_argument("--repeat", type=int, default=3, help="runs per worker count; the fastest is shown")
    p.add_argument("--ray", action="store_true", help="also the Ray engine, the same counts as CPU actors")
    p.add_argument(
        "--ray-compare",
        type=int,
        metavar="ROWS",
        help="instead: ROWS generated rows rescored by both engines, compared row for row "
        "(at each --workers count; default: all cores)",
    )
    args = p.parse_args()
    counts = (
        sorted({int(x) for x in args.workers.split(",")})
        if args.workers
        else sorted({1, cores, *(2**i for i in range(1, 8) if 2**i < cores)})
    )
    if args.ray_compare:
        return ray_compare(args.ray_compare, counts if args.workers else [cores], cores, args.repeat)
    path = make_dataset(args.responses)
    n_rows = args.responses // 4
    print(
        f"# rescore bench: {args.responses} responses ({n_rows} rows x 4), {cores} cores, "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )

    load_before = os.getloadavg()[0]
    anchor_wall, anchor_correct = (None, None) if args.no_anchor else run_math_verify(path)
    best: dict[int, tuple[float, list[bool], dict]] = {}
    for _ in range(max(1, args.repeat)):  # worker counts interleaved, so a busy spell hits them alike
        for w in counts:
            run = run_ours(path, w)
            if w not in best or run[0] < best[w][0]:
                best[w] = run
    results = [(w, *best[w]) for w in counts]
    base = results[0][1]
    ray_results: list[tuple[int, float, bool]] = []
    if args.ray:
        import ray

        ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
        ray_best: dict[int, tuple[float, bool, dict]] = {}
        for _ in range(max(1, args.repeat)):
            for w in counts:
                ray_run = run_ray(path, w, OUT / f"out_w{counts[0]}.jsonl")
                if w not in ray_best or ray_run[0] < ray_best[w][0]:
                    ray_best[w] = ray_run
        ray.shutdown()
        ray_results = [(w, ray_best[w][0], ray_best[w][1]) for w in counts]
    print(
        f"# load average (1 min) before the runs {load_before:.1f}, after {os.getloadavg()[0]:.1f} "
        f"(other processes on this machine share its {cores} cores)"
    )
    print()
    print("| run | workers | wall s | responses/s | rows/s | vs 1 worker | vs Math-Verify loop | agree |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    if anchor_wall is not None:
        print(
            f"| Math-Verify loop (anchor) | 1 | {anchor_wall:.1f} | {args.responses / anchor_wall:.0f} | "
            f"{n_rows / anchor_wall:.0f} | - | 1.00x | - |"
        )
    for w, wall, correct, _ in results:
        vs_anchor = f"{anchor_wall / wall:.2f}x" if anchor_wall else "-"
        agree = (
            f"{sum(a == b for a, b in zip(correct, anchor_correct, strict=True)) / len(correct):.1%}"
            if anchor_correct
            else "-"
        )
        rates = f"{args.responses / wall:.0f} | {n_rows / wall:.0f}"
        ratios = f"{base / wall:.2f}x | {vs_anchor} | {agree}"
        print(f"| mathreward rescore | {w} | {wall:.1f} | {rates} | {ratios} |")
    if ray_results:
        print()
        print("| run | CPU actors | wall s | responses/s | vs local, same count | vs local first | same |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for w, wall, same in ray_results:
            local_wall = best[w][0]
            print(
                f"| rescore --engine ray | {w} | {wall:.1f} | {args.responses / wall:.0f} | "
                f"{local_wall / wall:.2f}x | {base / wall:.2f}x | {'yes' if same else 'NO'} |"
            )
    last = results[-1][3]
    print()
    print(f"accuracy {last['accuracy']:.3f}, statuses {last['statuses']}")
    shutil.rmtree(OUT, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
