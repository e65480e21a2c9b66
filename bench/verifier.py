r"""Benchmark: this verifier against math-verify (the anchor) on the same inputs, in one run.

Inputs: fixtures/verifier_cases.jsonl (the case table, per category) and
fixtures/verifier_responses.jsonl (realistic whole responses, bench/make_responses.py).

Prints, per category, the mistakes of each verifier with false positives (a wrong answer graded
correct) and false negatives (a right answer graded wrong) apart; then single-worker throughput on
the realistic responses (sequential calls) for both with the ratio; verify_batch with 1 and all
workers; latency (max per call, calls over the limit) and a few pathological inputs. Writes the
figures as JSON to bench/out/verifier.json.

    .venv/bin/python bench/verifier.py
    .venv/bin/python bench/verifier.py --speed-only [--corpus PATH] [--long 240]

Speed, cold and warm, side by side with math-verify in one run (``--speed-only`` runs only this part):
each verifier runs in a fresh subprocess on one worker; "cold" is half of the inputs timed
from the moment the subprocess is started (interpreter start, imports and first calls included, and
our SymPy pool when a pair needs it), "warm" the other half, in the same process right after. The
halves interleave (even and odd rows: alike in content) and share no pair, so no cache of either
verifier is hit by a repeat. Inputs: long reasoning
responses (8-32 KB with ``<think>``, made deterministically by :func:`long_responses` from the
realistic responses) and, when ``--corpus`` names one (or bench/corpus/data/corpus.jsonl exists), the
real-response corpus (rows with ``response``, ``reference``, ``question``, ``label``), where the
read rate of each answer convention (our recognizer's name) is reported beside math-verify's.

math-verify is called as its README shows, ``verify(parse(gold), parse(pred))``, in the main thread
(its timeouts are signal-based); a gold written without delimiters is wrapped in ``$...$`` as the
README's golds are, and a GSM8K solution gold is cut to the number after ``####`` (math-verify does
not read that marker); a second math-verify column also wraps a one-line bare pred in ``$...$``
(math-verify extracts nothing from ``x^2-1`` written bare). The pathological inputs run one call per
fresh child process for both verifiers, killed after PATHOLOGICAL_KILL_S, so that an overrun cannot
stall the run (math-verify's signal cannot interrupt a long C-level computation).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CASES = ROOT / "fixtures" / "verifier_cases.jsonl"
RESPONSES = ROOT / "fixtures" / "verifier_responses.jsonl"
OUT = ROOT / "bench" / "out" / "verifier.json"
PATHOLOGICAL_KILL_S = 20.0
BATCH_REPEAT = 3  # verify_batch scaling runs over the realistic responses this many times
BATCH_ROUNDS = 3  # each worker count is timed this many times (alternating); the best counts
PROBE_S = 1.0  # seconds of each machine-check run

PATHOLOGICAL: list[tuple[str, str, str]] = [
    ("power tower", "$9^{9^{9^{9}}}$", "1"),
    ("huge factorial", "\\boxed{1000000!}", "5"),
    ("1 MB response", "The answer is 3. " * 60_000 + "\\boxed{3}", "3"),
    ("10,000 nested braces", "\\boxed{" + "{" * 10_000 + "1" + "}" * 10_000 + "}", "1"),
    ("\\frac nested 5,000 deep", "\\boxed{" + "\\frac{1}{" * 5_000 + "2" + "}" * 5_000 + "}", "1"),
    ("huge power", "\\boxed{2^{10^{10}}}", "2"),
    ("1 MB of digits, no spaces", "1" * 1_000_000, "1"),
]


@dataclass
class Tally:
    n: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, got: bool, expected: bool) -> None:
        self.n += 1
        if got and not expected:
            self.fp += 1
        elif expected and not got:
            self.fn += 1

    @property
    def errors(self) -> int:
        return self.fp + self.fn


@dataclass
class Run:
    """One verifier over a list of pairs: its answers and per-call wall times."""

    got: list[bool] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    @property
    def total_s(self) -> float:
        return sum(self.seconds)


def load(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def mv_gold(ref: str) -> str:
    """The gold as math-verify's README writes it."""
    if "####" in ref:
        ref = ref.rsplit("####", 1)[1].strip()
    if "$" in ref or "\\boxed" in ref or "\\(" in ref or "\\[" in ref:
        return ref
    return f"${ref}$"


def quiet_math_verify() -> None:
    """math-verify logs every timeout with the whole input (megabytes for the pathological ones)."""
    import logging

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)


def math_verify_check(pred: str, ref: str) -> bool:
    from math_verify import parse, verify

    try:
        return bool(verify(parse(mv_gold(ref)), parse(pred)))
    except Exception:  # math-verify's own failures count as "not correct", as its users see them
        return False


def mv_pred(pred: str) -> str:
    """A one-line bare answer wrapped in $...$, so math-verify's LaTeX extraction sees it."""
    delimited = "$" in pred or "\\boxed" in pred or "\\(" in pred or "\\[" in pred
    if delimited or "\n" in pred or len(pred) > 200 or not pred.strip():
        return pred
    return f"${pred}$"


def math_verify_wrapped_check(pred: str, ref: str) -> bool:
    return math_verify_check(mv_pred(pred), ref)


def ours_check(pred: str, ref: str, question: str | None = None) -> tuple[bool, str]:
    from verifier import verify

    verdict = verify(pred, ref, question=question)
    return bool(verdict), verdict.status.value


def run_sequential(
    check: Callable[..., Any], rows: list[dict[str, Any]], *, with_question: bool = False
) -> tuple[Run, list[Any]]:
    """One call per row; ``with_question`` passes a row's question (math-verify takes none)."""
    run = Run()
    raw: list[Any] = []
    for row in rows:
        extra = (row.get("question"),) if with_question else ()
        start = time.perf_counter()
        result = check(row["pred"], row["ref"], *extra)
        run.seconds.append(time.perf_counter() - start)
        raw.append(result)
        run.got.append(bool(result[0]) if isinstance(result, tuple) else bool(result))
    return run, raw


def _isolated_child(which: str, pred: str, ref: str, conn: Any) -> None:
    quiet_math_verify()
    if which == "ours":
        from verifier import verify

        verify("\\boxed{x+1}", "1+x")  # start the sandbox pool before the clock starts
        start = time.perf_counter()
        verdict = verify(pred, ref)
        conn.send((verdict.status.value, time.perf_counter() - start))
    else:
        start = time.perf_counter()
        got = math_verify_check(pred, ref)
        conn.send(("correct" if got else "not correct", time.perf_counter() - start))


def isolated(which: str, pred: str, ref: str) -> tuple[str, float]:
    """One call of "ours" or "math-verify" in a child's main thread, killed after PATHOLOGICAL_KILL_S.

    A child, for both: a call that overruns (math-verify's signal cannot interrupt a long C-level
    computation; our in-process stages have no limit of their own) must not stall the benchmark.
    """
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_isolated_child, args=(which, pred, ref, child), daemon=True)
    start = time.perf_counter()
    proc.start()
    child.close()
    if parent.poll(PATHOLOGICAL_KILL_S + 20.0):  # + interpreter start, imports, the first worker
        result, seconds = parent.recv()
        proc.join(5)
        return result, seconds
    proc.kill()
    proc.join(5)
    return f"killed after {PATHOLOGICAL_KILL_S:g} s", time.perf_counter() - start


def quantiles(seconds: list[float]) -> tuple[float, float, float]:
    """p50, p99 and max."""
    ordered = sorted(seconds)
    return (
        ordered[len(ordered) // 2],
        ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        ordered[-1],
    )


def patho_cell(result: str, seconds: float) -> str:
    return result if result.startswith("killed") else f"{result} in {seconds:.2f} s"


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    return "\n".join([line, rule, *body])


LONG_SIZES = (8_000, 32_000)  # characters of a long response, drawn uniformly between these
LONG_SEED = 20241130


def long_responses(n: int, seed: int = LONG_SEED) -> list[dict[str, Any]]:
    """``n`` long reasoning responses, 8-32 KB each: a ``<think>`` block of realistic reasoning
    paragraphs (drawn from fixtures/verifier_responses.jsonl, drafts and their boxes included), then a
    realistic response as the final answer part. The pair's reference and expected verdict are that
    response's. Deterministic for a seed."""
    import random

    rng = random.Random(seed)
    rows = load(RESPONSES)
    paragraphs = [
        p.strip() for r in rows for p in r["pred"].replace("<think>", "").split("\n\n") if p.strip()
    ]
    out: list[dict[str, Any]] = []
    for k in range(n):
        row = rows[k % len(rows)]
        target = rng.randint(*LONG_SIZES)
        thinking: list[str] = []
        size = 0
        while size < target:
            paragraph = rng.choice(paragraphs)
            thinking.append(paragraph)
            size += len(paragraph) + 2
        final = row["pred"].split("</think>")[-1].strip()
        pred = "<think>\n" + "\n\n".join(thinking) + "\n</think>\n\n" + final
        out.append({"pred": pred, "ref": row["ref"], "question": None, "expected": row["expected"]})
    return out


def load_corpus(path: Path | None) -> list[dict[str, Any]]:
    """The real-response corpus as bench rows (pred, ref, question, expected, source)."""
    if path is None:
        path = ROOT / "bench" / "corpus" / "data" / "corpus.jsonl"
        if not path.exists():
            return []
    return [
        {
            "pred": r["response"],
            "ref": r["reference"],
            "question": r.get("question"),
            "expected": bool(r["label"]),
            "source": r.get("source", "?"),
        }
        for r in load(path)
    ]


def _speed_child(which: str, pairs_path: str, t0: float) -> None:
    """In a fresh process: verify the even rows (cold, timed from t0, when the parent started this
    process), then the odd rows (warm); print the times and verdicts as JSON."""
    rows = load(Path(pairs_path))
    cold_rows, warm_rows = rows[0::2], rows[1::2]  # interleaved: two halves alike, no pair repeated
    if which == "ours":
        from verifier import verify

        def check(row: dict[str, Any]) -> bool:
            return bool(verify(row["pred"], row["ref"], question=row.get("question")))
    else:
        quiet_math_verify()

        def check(row: dict[str, Any]) -> bool:
            return math_verify_check(row["pred"], row["ref"])

    cold = [check(r) for r in cold_rows]
    cold_done = time.time()
    start = time.perf_counter()
    warm = [check(r) for r in warm_rows]
    warm_s = time.perf_counter() - start
    got = [False] * len(rows)
    got[0::2], got[1::2] = cold, warm
    print(json.dumps({"cold_s": cold_done - t0, "cold_n": len(cold_rows), "warm_s": warm_s,
                      "warm_n": len(warm_rows), "got": got}))  # fmt: skip


def speed(rows: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """Cold and warm pairs/s of both verifiers on ``rows``, each in a fresh subprocess (best of 2)."""
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for r in rows:
            f.write(json.dumps({k: r.get(k) for k in ("pred", "ref", "question")}) + "\n")
    result: dict[str, Any] = {"inputs": name, "pairs": len(rows)}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    for which in ("ours", "math-verify"):
        best: dict[str, Any] | None = None
        for _ in range(2):
            t0 = time.time()
            out = subprocess.run(
                [sys.executable, "-m", "bench.verifier", "--speed-child", which, f.name, str(t0)],
                capture_output=True, text=True, env=env, check=True, cwd=ROOT,
            )  # fmt: skip
            got = json.loads(out.stdout.strip().splitlines()[-1])
            if best is None or got["cold_s"] + got["warm_s"] < best["cold_s"] + best["warm_s"]:
                best = got
        assert best is not None
        result[which] = {
            "cold_pairs_per_s": best["cold_n"] / best["cold_s"],
            "warm_pairs_per_s": best["warm_n"] / best["warm_s"],
            "cold_s": best["cold_s"],
            "warm_s": best["warm_s"],
            "correct": best["got"],
        }
    os.unlink(f.name)
    return result


def print_speed(results: list[dict[str, Any]]) -> None:
    rows = []
    for r in results:
        ours, mv = r["ours"], r["math-verify"]
        rows.append(
            [
                f"{r['inputs']} ({r['pairs']} pairs, half cold, half warm)",
                f"{mv['cold_pairs_per_s']:.0f}",
                f"{ours['cold_pairs_per_s']:.0f}",
                f"{ours['cold_pairs_per_s'] / mv['cold_pairs_per_s']:.2f}x",
                f"{mv['warm_pairs_per_s']:.0f}",
                f"{ours['warm_pairs_per_s']:.0f}",
                f"{ours['warm_pairs_per_s'] / mv['warm_pairs_per_s']:.2f}x",
            ]
        )
    print("\nSpeed, one worker, fresh subprocess each (pairs/s; cold: from process start, imports and first")
    print("calls included; warm: the other half right after, in the same process; halves interleaved)\n")
    print(
        table(
            rows,
            ["inputs", "math-verify cold", "ours cold", "ratio", "math-verify warm", "ours warm", "ratio"],
        )
    )


def read_rates(rows: list[dict[str, Any]], mv_correct: list[bool]) -> dict[str, list[dict[str, Any]]]:
    """Per answer convention (the recognizer that read the response; "none" when none did) and per
    source: the right answers read as correct and the wrong answers accepted, ours beside math-verify."""
    from verifier import verify
    from verifier.extract import find_answer

    tables: dict[str, dict[str, dict[str, int]]] = {"convention": {}, "source": {}}
    for row, mv in zip(rows, mv_correct, strict=True):
        found = find_answer(row["pred"]).extraction
        ours = bool(verify(row["pred"], row["ref"], question=row.get("question")))
        keys = {"convention": found.how if found is not None else "none", "source": row.get("source", "?")}
        for kind, key in keys.items():
            c = tables[kind].setdefault(
                key, {"n": 0, "right": 0, "ours_read": 0, "ours_fp": 0, "mv_read": 0, "mv_fp": 0}
            )
            c["n"] += 1
            if row["expected"]:
                c["right"] += 1
                c["ours_read"] += ours
                c["mv_read"] += mv
            else:
                c["ours_fp"] += ours
                c["mv_fp"] += mv
    out: dict[str, list[dict[str, Any]]] = {}
    for kind, cells in tables.items():
        total = {
            f: sum(c[f] for c in cells.values())
            for f in ("n", "right", "ours_read", "ours_fp", "mv_read", "mv_fp")
        }
        ordered = [*sorted(cells.items(), key=lambda kv: -kv[1]["n"]), ("**all**", total)]
        out[kind] = [{kind: k, **v} for k, v in ordered]
        body = [
            [
                str(o[kind]), str(o["n"]), str(o["right"]),
                f"{o['ours_read']} ({100 * o['ours_read'] / max(o['right'], 1):.1f}%)", str(o["ours_fp"]),
                f"{o['mv_read']} ({100 * o['mv_read'] / max(o['right'], 1):.1f}%)", str(o["mv_fp"]),
            ]
            for o in out[kind]
        ]  # fmt: skip
        print(f"\nReal-response corpus by {kind} (right answers read as correct; wrong ones accepted)\n")
        print(table(body, [kind, "pairs", "right", "ours read", "ours FP", "math-verify read", "mv FP"]))
    return out


def stage_times(
    rows: list[dict[str, Any]], lo: int = 3000, hi: int = 5000, passes: int = 5
) -> dict[str, Any]:
    """Median and p90 microseconds of extraction, the injection screen and a whole verify, in process,
    on the responses of ``lo``-``hi`` characters (after one untimed pass)."""
    from verifier import verify
    from verifier.extract import find_answer
    from verifier.guards import grader_injection

    chosen = [r for r in rows if lo <= len(r["pred"]) <= hi]
    if not chosen:
        return {}
    for r in chosen:
        verify(r["pred"], r["ref"], question=r.get("question"))
    stages: dict[str, Callable[[dict[str, Any]], Any]] = {
        "find_answer": lambda r: find_answer(r["pred"]),
        "grader_injection": lambda r: grader_injection(r["pred"]),
        "verify, whole pair": lambda r: verify(r["pred"], r["ref"], question=r.get("question")),
    }
    out: dict[str, Any] = {
        "responses": len(chosen),
        "mean_chars": sum(len(r["pred"]) for r in chosen) / len(chosen),
    }
    body = []
    for name, fn in stages.items():
        times: list[float] = []
        for _ in range(passes):
            for r in chosen:
                start = time.perf_counter()
                fn(r)
                times.append(time.perf_counter() - start)
        times.sort()
        median, p90 = times[len(times) // 2], times[int(len(times) * 0.9)]
        out[name] = {"median_us": 1e6 * median, "p90_us": 1e6 * p90}
        body.append([name, f"{1e6 * median:.0f} us", f"{1e6 * p90:.0f} us"])
    print(f"\nPer pair in process, {len(chosen)} corpus responses of {lo}-{hi} characters, {passes} passes\n")
    print(table(body, ["stage", "median", "p90"]))
    return out


def speed_main(args: argparse.Namespace) -> int:
    results = [speed(long_responses(args.long), "long reasoning responses, 8-32 KB with <think>")]
    corpus = load_corpus(args.corpus)
    if corpus:
        results.append(speed(corpus, "real-response corpus"))
    print_speed(results)
    out: dict[str, Any] = {"speed": [{k: v for k, v in r.items()} for r in results]}
    for r in out["speed"]:
        for which in ("ours", "math-verify"):
            r[which] = {k: v for k, v in r[which].items() if k != "correct"}
    if corpus:
        out["read_rates"] = read_rates(corpus, results[-1]["math-verify"]["correct"])
        out["stages"] = stage_times(corpus)
    path = OUT.with_name("verifier_speed.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    print(f"\nwrote {path.relative_to(ROOT)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-pathological", action="store_true", help="skip the pathological inputs")
    parser.add_argument("--speed-only", action="store_true", help="only the cold/warm speed comparison")
    parser.add_argument("--corpus", type=Path, default=None, help="real-response corpus JSONL")
    parser.add_argument("--long", type=int, default=240, help="how many long reasoning responses")
    parser.add_argument("--speed-child", nargs=3, metavar=("WHICH", "PAIRS", "T0"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.speed_child:
        which, pairs_path, t0 = args.speed_child
        _speed_child(which, pairs_path, float(t0))
        return 0
    if args.speed_only:
        return speed_main(args)

    from verifier import VerifyConfig, verify, verify_batch

    config = VerifyConfig()
    quiet_math_verify()
    cases = load(CASES)
    responses = load(RESPONSES)
    if not responses:
        print(f"no responses at {RESPONSES}: run bench/make_responses.py", file=sys.stderr)
        return 1
    if not cases:
        print(f"note: {CASES} is missing; only the realistic responses are measured", file=sys.stderr)
    rows = cases + responses
    cores = os.cpu_count() or 1
    print(
        f"{len(cases)} table cases + {len(responses)} realistic responses; {cores} cores; "
        f"limit {config.timeout_s:g} s / {config.memory_mb} MiB per call\n"
    )

    # warm both up on something outside the timed inputs (imports, worker start, parser tables)
    for pred, ref in [("\\boxed{\\frac{1}{2}}", "0.5"), ("x^2-1", "(x-1)(x+1)"), ("(1, 2]", "(1,2]")]:
        verify(pred, ref)
        math_verify_check(pred, ref)

    # ---- accuracy (sequential calls; the realistic part doubles as the throughput run)
    ours_run, ours_raw = run_sequential(ours_check, rows, with_question=True)
    mv_run, _ = run_sequential(math_verify_check, rows)
    mvw_run, _ = run_sequential(math_verify_wrapped_check, rows)
    categories: dict[str, tuple[Tally, Tally, Tally]] = {}
    for row, *gots in zip(rows, ours_run.got, mv_run.got, mvw_run.got, strict=True):
        tallies = categories.setdefault(row["category"], (Tally(), Tally(), Tally()))
        for tally, got in zip(tallies, gots, strict=True):
            tally.add(got, bool(row["expected"]))
    total = (Tally(), Tally(), Tally())

    def cell(t: Tally) -> str:
        return f"{t.errors} ({t.fp} / {t.fn})"

    def winner(ours: Tally, *anchors: Tally) -> str:
        best = min(a.errors for a in anchors)
        return "ours" if ours.errors < best else ("tie" if ours.errors == best else "math-verify")

    acc_rows = []
    for name in sorted(categories, key=lambda c: (c == "realistic", c)):
        tallies = categories[name]
        for t_all, t in zip(total, tallies, strict=True):
            t_all.n += t.n
            t_all.fp += t.fp
            t_all.fn += t.fn
        acc_rows.append([name, str(tallies[0].n), *(cell(t) for t in tallies), winner(*tallies)])
    acc_rows.append(["**all**", str(total[0].n), *(cell(t) for t in total), winner(*total)])
    print("Mistakes per category: errors (false positives / false negatives)\n")
    print(
        table(
            acc_rows,
            ["category", "n", "ours", "math-verify 0.9.0", "math-verify, bare pred in $…$", "fewer mistakes"],
        )
    )
    print(
        "\n(math-verify reads no answer from a bare LaTeX pred such as x^2-1 without $...$; the second "
        "math-verify column wraps\n a one-line pred that has no delimiters in $...$ for it. 'fewer mistakes' "
        "compares ours with the better of the two.)"
    )

    # ---- single-worker throughput on the realistic responses
    k = len(cases)
    ours_real_s = sum(ours_run.seconds[k:])
    mv_real_s = sum(mv_run.seconds[k:])
    ours_pps = len(responses) / ours_real_s
    mv_pps = len(responses) / mv_real_s
    # ---- verify_batch: the same verdicts as sequential calls on every input
    pairs = [(r["pred"], r["ref"]) for r in rows]
    questions = [r.get("question") for r in rows]
    batch_verdicts = verify_batch(pairs, questions=questions, config=config)
    same = sum(1 for v, (o, _) in zip(batch_verdicts, ours_raw, strict=True) if bool(v) == o)
    # ---- verify_batch scaling on the realistic responses (repeated so a run lasts seconds). Beside
    # each run, the machine check: N workers each running verify in a loop on their own (no batching,
    # no pipe traffic) show how much parallel verification work the machine can do at that moment.
    # Worker counts alternate, best of BATCH_ROUNDS each, to damp the noise of a shared machine.
    from bench.probe import sleep_for, verify_for
    from verifier.sandbox import map_limited

    real_pairs = [(r["pred"], r["ref"]) for r in responses] * BATCH_REPEAT
    counts = sorted({1, min(2, cores), cores})
    batch: dict[int, dict[str, float]] = {}
    probe: dict[str, dict[int, float]] = {"verify_loops": {}, "sleep": {}}
    load_before = os.getloadavg()[0]
    for _round in range(BATCH_ROUNDS):
        for workers in counts:
            start = time.perf_counter()
            verify_batch(real_pairs, config=config, workers=workers)
            seconds = time.perf_counter() - start
            if workers not in batch or seconds < batch[workers]["seconds"]:
                batch[workers] = {"seconds": seconds, "pairs_per_s": len(real_pairs) / seconds}
            loops = map_limited(
                verify_for,
                [(PROBE_S, str(RESPONSES))] * workers,
                timeout_s=PROBE_S + 60,
                memory_mb=config.memory_mb,
                workers=workers,
            )
            rate = sum(n for n in loops if isinstance(n, int)) / PROBE_S
            probe["verify_loops"][workers] = max(rate, probe["verify_loops"].get(workers, 0.0))
    for workers in counts:  # the pool's own parallelism, where the CPU is not the limit
        start = time.perf_counter()
        map_limited(sleep_for, [(0.005,)] * 400, timeout_s=10, memory_mb=config.memory_mb, workers=workers)
        probe["sleep"][workers] = 400 / (time.perf_counter() - start)
    load_after = os.getloadavg()[0]
    base = batch[1]["pairs_per_s"]
    thr_rows = [
        ["math-verify, sequential calls", f"{len(responses)}", f"{mv_pps:.0f}", "1.00x"],
        ["ours, sequential calls", f"{len(responses)}", f"{ours_pps:.0f}", f"{ours_pps / mv_pps:.2f}x"],
    ]
    for workers, b in batch.items():
        thr_rows.append(
            [
                f"ours, verify_batch workers={workers}",
                f"{len(real_pairs)}",
                f"{b['pairs_per_s']:.0f}",
                f"{b['pairs_per_s'] / base:.2f}x of workers=1",
            ]
        )
    loops_base = probe["verify_loops"][1]
    for workers, rate in probe["verify_loops"].items():
        thr_rows.append(
            [
                f"machine check: {workers} x verify in a loop",
                "-",
                f"{rate:.0f}",
                f"{rate / loops_base:.2f}x of 1",
            ]
        )
    print(f"\nThroughput on the realistic responses (pairs/s; verify_batch: best of {BATCH_ROUNDS} runs)\n")
    print(table(thr_rows, ["run", "pairs", "pairs/s", "ratio"]))
    top = max(probe["sleep"])
    print(
        "\n(machine check: verify in a loop in each of N workers at once, no batching, no pipe traffic:\n"
        " what the machine could do in parallel at that moment. On 5 ms sleep tasks, where the CPU is\n"
        f" not the limit, the pool ran {probe['sleep'][1]:.0f}/s with 1 worker and "
        f"{probe['sleep'][top]:.0f}/s with {top}, {probe['sleep'][top] / probe['sleep'][1]:.2f}x.)"
    )
    print(
        f"\nverify_batch verdicts equal to sequential verify: {same}/{len(pairs)}; load average "
        f"{load_before:.1f} before the batch runs, {load_after:.1f} after ({cores} cores)"
    )

    # ---- latency
    over = sum(1 for s in ours_run.seconds if s > config.timeout_s)
    ours_ms = [1000 * x for x in quantiles(ours_run.seconds)]
    mv_ms = [1000 * x for x in quantiles(mv_run.seconds)]
    print(
        f"\nLatency per call over {len(rows)} calls (p50 / p99 / max): ours {ours_ms[0]:.2f} / "
        f"{ours_ms[1]:.1f} / {ours_ms[2]:.1f} ms, {over} over the {config.timeout_s:g} s limit; "
        f"math-verify {mv_ms[0]:.2f} / {mv_ms[1]:.1f} / {mv_ms[2]:.1f} ms."
    )

    patho: list[dict[str, Any]] = []
    if not args.skip_pathological:
        p_rows = []
        for name, pred, ref in PATHOLOGICAL:
            ours_result, ours_s = isolated("ours", pred, ref)
            mv_result, mv_s = isolated("math-verify", pred, ref)
            patho.append(
                {
                    "input": name,
                    "ours": ours_result,
                    "ours_s": ours_s,
                    "math_verify": mv_result,
                    "math_verify_s": mv_s,
                }
            )
            p_rows.append([name, patho_cell(ours_result, ours_s), patho_cell(mv_result, mv_s)])
        print(
            f"\nPathological inputs (limit {config.timeout_s:g} s; each call in a fresh child process, "
            f"timed inside it, killed after {PATHOLOGICAL_KILL_S:g} s)\n"
        )
        print(table(p_rows, ["input", "ours", "math-verify"]))

    out = {
        "machine": {"cores": cores, "python": platform.python_version(), "platform": platform.platform()},
        "config": {"timeout_s": config.timeout_s, "memory_mb": config.memory_mb},
        "inputs": {"cases": len(cases), "responses": len(responses)},
        "accuracy": {
            name: {
                "n": o.n,
                "ours_fp": o.fp,
                "ours_fn": o.fn,
                "mv_fp": m.fp,
                "mv_fn": m.fn,
                "mv_wrapped_fp": w.fp,
                "mv_wrapped_fn": w.fn,
            }
            for name, (o, m, w) in categories.items()
        },
        "throughput": {
            "ours_sequential_pairs_per_s": ours_pps,
            "math_verify_sequential_pairs_per_s": mv_pps,
            "ratio": ours_pps / mv_pps,
            "verify_batch": {str(w): b for w, b in batch.items()},
            "batch_equal_to_sequential": same,
            "load_average": [load_before, load_after],
            "machine_check_verify_loops_per_s": {str(w): v for w, v in probe["verify_loops"].items()},
            "probe_sleep_tasks_per_s": {str(w): v for w, v in probe["sleep"].items()},
        },
        "latency": {
            "ours_p50_p99_max_s": quantiles(ours_run.seconds),
            "math_verify_p50_p99_max_s": quantiles(mv_run.seconds),
            "ours_max_s": max(ours_run.seconds),
            "ours_over_limit": over,
            "math_verify_max_s": max(mv_run.seconds),
        },
        "pathological": patho,
        "mistakes": {
            "ours": [
                {
                    "category": r["category"],
                    "why": r.get("why", ""),
                    "ref": r["ref"],
                    "pred": r["pred"][-200:],
                    "expected": r["expected"],
                    "status": raw[1],
                }
                for r, got, raw in zip(rows, ours_run.got, ours_raw, strict=True)
                if got != bool(r["expected"])
            ],
        },
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=2, ensure_ascii=False))
    print(f"\nwrote {OUT.relative_to(ROOT)}")
    return speed_main(args)


if __name__ == "__main__":
    sys.exit(main())
