r"""Benchmark: how often the LLM second opinion is consulted, what it recovers, what it could cost.

Anchor: the data-pipeline habit of sending *every* rule-rejected answer to an LLM for a second
opinion (as Phi-4-mini-reasoning rechecked rule-rejected answers with GPT-4o-mini). Ours consults
only where the rules could be wrong (see verifier/judge/policy.py). Both policies are run in one go
over the same rule verdicts and the same local judges:

- an *honest* judge: a real chat-completions server on a loopback port that knows the truth of each
  pair (it answers "equivalent" exactly for the pairs the table marks right);
- an *always-yes* judge: the same server answering "equivalent" to everything, i.e. a judge that any
  injection fools. The wrong answers it turns correct are the worst case a policy lets through.

Inputs: fixtures/verifier_responses.jsonl (realistic whole responses with known truth, from
bench/make_responses.py) cycled to >= 1,000 pairs; fixtures/verifier_cases.jsonl (the rule
verifier's edge-case table); the real-response corpus of issue 8 (``--corpus PATH``, default
bench/corpus/data/corpus.jsonl; skipped with a note when absent); fixtures/judge_gate.jsonl (each
family of readable mismatches, both directions); fixtures/judge_false_negatives.jsonl (answers right
in forms the rules cannot read, plus wrong controls); fixtures/judge_injections.jsonl (master keys
and injections, all wrong). Exposure is the share of the set's wrong answers that the always-yes
judge turns correct (target: at most 0.5% on every set). Writes bench/out/judge.json (with, per set,
the rows behind the counts under "listing"); ``--list`` prints them: each exposure, and each right
answer the anchor's honest judge recovers and the gate's does not, with the gate's reason.

    .venv/bin/python -m bench.judge [--corpus PATH] [--list]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# the checkout first, ahead of bench/ itself (bench/verifier.py would shadow the package)
sys.path[:] = [str(ROOT)] + [p for p in sys.path if p not in (str(ROOT), str(ROOT / "bench"))]

from tests.verifier.chat_server import ChatServer, always, honest  # noqa: E402
from verifier import Status, Verdict, verify_batch  # noqa: E402
from verifier.config import VerifyConfig  # noqa: E402
from verifier.judge import JudgeConfig, close_judges, get_client, second_opinion_batch  # noqa: E402
from verifier.judge.policy import EQUIVALENT  # noqa: E402

FIXTURES = ROOT / "fixtures"
OUT = ROOT / "bench" / "out" / "judge.json"


def load(name: str) -> list[dict[str, Any]]:
    path = FIXTURES / name
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def naive_consults(v: Verdict) -> bool:
    """The anchor: every rule-rejected answer that has an extracted answer goes to the judge."""
    return v.status is not Status.CORRECT and v.pred_answer is not None and v.ref_answer is not None


@dataclass
class Outcome:
    consulted: int = 0
    recovered: int = 0  # right answers the rules rejected, made correct
    broken: int = 0  # wrong answers made correct
    still_missed: int = 0  # right answers still graded wrong
    seconds: float = 0.0
    recovered_rows: list[int] = field(default_factory=list)
    broken_rows: list[int] = field(default_factory=list)


def run_policy(
    policy: str,
    rules: list[Verdict],
    expected: list[bool],
    questions: list[str | None],
    url: str,
) -> Outcome:
    """Apply one policy with the judge at ``url`` to the rule verdicts; count what changed."""
    close_judges()
    judge = JudgeConfig(base_url=url, model="bench-judge", api_key_env="", max_concurrency=8)
    cfg = VerifyConfig(judge=judge)
    start = time.perf_counter()
    if policy == "ours":
        final = second_opinion_batch(rules, questions, cfg)
        consulted = sum(v.judge is not None for v in final)
        got = [v.correct for v in final]
    else:
        assert cfg.judge is not None
        client = get_client(cfg.judge)
        got, consulted = [], 0
        for v, q in zip(rules, questions, strict=True):
            if v.correct or not naive_consults(v):
                got.append(v.correct)
                continue
            consulted += 1
            info = client.ask(v.pred_answer or "", v.ref_answer or "", q)
            got.append(info.available and info.label == EQUIVALENT)
    out = Outcome(consulted=consulted, seconds=time.perf_counter() - start)
    for i, (r, g, e) in enumerate(zip(rules, got, expected, strict=True)):
        if g and not r.correct:
            if e:
                out.recovered += 1
                out.recovered_rows.append(i)
            else:
                out.broken += 1
                out.broken_rows.append(i)
        if e and not g:
            out.still_missed += 1
    close_judges()
    return out


def truth_pairs(rules: list[Verdict], expected: list[bool]) -> tuple[list[tuple[str, str]], int]:
    """(answer, reference) pairs an honest judge calls equivalent; and how many pairs are ambiguous
    (the same extracted pair marked right in one row and wrong in another)."""
    rows = list(zip(rules, expected, strict=True))
    right = {(v.pred_answer, v.ref_answer) for v, e in rows if e and v.pred_answer}
    wrong = {(v.pred_answer, v.ref_answer) for v, e in rows if not e and v.pred_answer}
    pairs = [(a, r) for a, r in right if a is not None and r is not None]
    return pairs, len(right & wrong)


def percent(x: int, n: int) -> str:
    return f"{100 * x / n:.2f}%" if n else "-"


def per_1000(x: int, n: int) -> str:
    return f"{1000 * x / n:.1f}" if n else "-"


def load_corpus(path: Path) -> list[dict[str, Any]]:
    """The real-response corpus (bench/corpus): rows of question, response, reference and label."""
    with path.open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [
        {
            "pred": r["response"],
            "ref": r["reference"],
            "question": r.get("question"),
            "expected": bool(r["label"]),
        }
        for r in rows
    ]


def evaluate(name: str, rows: list[dict[str, Any]], workers: int | None) -> dict[str, Any]:
    pairs = [(r["pred"], r["ref"]) for r in rows]
    questions: list[str | None] = [r.get("question") for r in rows]
    expected = [bool(r.get("expected", r.get("equivalent", False))) for r in rows]
    start = time.perf_counter()
    rules = verify_batch(pairs, questions=questions, config=VerifyConfig(), workers=workers)
    rules_s = time.perf_counter() - start
    truth, ambiguous = truth_pairs(rules, expected)
    result: dict[str, Any] = {
        "set": name,
        "pairs": len(rows),
        "distinct_pairs": len(set(pairs)),
        "right": sum(expected),
        "wrong": len(expected) - sum(expected),
        "rules_correct": sum(v.correct for v in rules),
        "rules_false_negatives": sum(e and not v.correct for v, e in zip(rules, expected, strict=True)),
        "rules_false_positives": sum(v.correct and not e for v, e in zip(rules, expected, strict=True)),
        "ambiguous_truth_pairs": ambiguous,
        "rules_s": rules_s,
    }
    scripts: dict[str, Callable[[], Any]] = {"honest": lambda: honest(truth), "always_yes": lambda: always()}
    for judge_name, make in scripts.items():
        for policy in ("naive", "ours"):
            with ChatServer(make()) as srv:
                out = run_policy(policy, rules, expected, questions, srv.url)
                result[f"{policy}_{judge_name}"] = asdict(out) | {"http_requests": srv.calls}
    result["listing"] = listing(rules, questions, result)
    return result


def _row(v: Verdict, question: str | None) -> dict[str, Any]:
    from verifier.judge.policy import consult_refusal

    return {
        "pred": v.pred_answer,
        "ref": v.ref_answer,
        "status": v.status.value,
        "kinds": list(v.kinds) if v.kinds is not None else None,
        "refusal": consult_refusal(
            v, max_answer_chars=JudgeConfig(model="bench-judge").max_answer_chars, question=question
        ),
    }


def listing(rules: list[Verdict], questions: list[str | None], result: dict[str, Any]) -> dict[str, Any]:
    """The rows behind the counts: the wrong answers the always-yes judge turns correct through the gate
    (exposures), and the right answers the anchor's honest judge recovers but the gate's does not (the
    gate's refusal says why)."""
    exposed = sorted(set(result["ours_always_yes"]["broken_rows"]))
    missed = sorted(
        set(result["naive_honest"]["recovered_rows"]) - set(result["ours_honest"]["recovered_rows"])
    )
    return {
        "exposed": [_row(rules[i], questions[i]) | {"row": i} for i in exposed],
        "not_recovered": [_row(rules[i], questions[i]) | {"row": i} for i in missed],
    }


def print_listing(results: list[dict[str, Any]]) -> None:
    for r in results:
        for what, title in (
            ("exposed", "wrong answers an always-yes judge turns correct through the gate"),
            ("not_recovered", "right answers the anchor recovers and the gate does not"),
        ):
            rows = r["listing"][what]
            if not rows:
                continue
            print(f"\n{r['set']}: {title} ({len(rows)})")
            for x in rows:
                print(
                    f"  row {x['row']}: pred={x['pred']!r} ref={x['ref']!r} {x['status']} kinds={x['kinds']}"
                )
                print(f"      gate: {x['refusal'] or 'consulted'}")


def print_table(results: list[dict[str, Any]]) -> None:
    head = (
        f"{'set':<22} {'pairs':>6} {'policy':<24} {'judge calls/1000':>17} {'recovered (honest)':>19} "
        f"{'wrong->correct (always-yes)':>28} {'exposure':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        n = r["pairs"]
        for policy, label in (("naive", "anchor: every rejection"), ("ours", "mathreward gate")):
            h, y = r[f"{policy}_honest"], r[f"{policy}_always_yes"]
            print(
                f"{r['set']:<22} {n:>6} {label:<24} {per_1000(h['consulted'], n):>17} "
                f"{h['recovered']:>9}/{r['rules_false_negatives']:<9} "
                f"{y['broken']:>15}/{r['wrong']:<12} {percent(y['broken'], r['wrong']):>9}"
            )
    print()
    for r in results:
        print(
            f"{r['set']}: {r['distinct_pairs']} distinct pairs, {r['right']} right, {r['wrong']} wrong; "
            f"rules alone: {r['rules_correct']} correct, {r['rules_false_negatives']} false negatives, "
            f"{r['rules_false_positives']} false positives ({r['rules_s']:.1f}s); "
            f"HTTP requests ours/honest {r['ours_honest']['http_requests']} "
            f"(cache and in-batch dedup), ambiguous truth pairs {r['ambiguous_truth_pairs']}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--min-pairs", type=int, default=1000, help="cycle the realistic set to at least this many pairs"
    )
    parser.add_argument("--workers", type=int, default=None, help="verify_batch workers (default: all cores)")
    parser.add_argument(
        "--corpus",
        type=Path,
        default=ROOT / "bench" / "corpus" / "data" / "corpus.jsonl",
        help="the real-response corpus JSONL (bench/corpus); skipped with a note when absent",
    )
    parser.add_argument("--skip-corpus", action="store_true", help="leave the corpus out")
    parser.add_argument(
        "--list",
        action="store_true",
        help="list the rows behind the counts: exposures; right answers the anchor recovers, the gate not",
    )
    args = parser.parse_args()

    responses = load("verifier_responses.jsonl")
    realistic = [responses[i % len(responses)] for i in range(max(args.min_pairs, len(responses)))]
    cases = load("verifier_cases.jsonl") if (FIXTURES / "verifier_cases.jsonl").exists() else []
    fn_table = load("judge_false_negatives.jsonl")
    gate = load("judge_gate.jsonl")
    injections = [r | {"expected": False} for r in load("judge_injections.jsonl")]
    results = [
        evaluate("realistic responses", realistic, args.workers),
        *([evaluate("verifier case table", cases, args.workers)] if cases else []),
    ]
    if args.skip_corpus:
        print("note: the real-response corpus was left out (--skip-corpus)")
    elif args.corpus.exists():
        results.append(evaluate("real-response corpus", load_corpus(args.corpus), args.workers))
    else:
        print(f"note: no real-response corpus at {args.corpus}; that set is skipped (build it: bench/corpus)")
    results += [
        evaluate("gate families table", gate, args.workers),
        evaluate("false-negative table", fn_table, args.workers),
        evaluate("injection table", injections, args.workers),
    ]
    print_table(results)
    if args.list:
        print_listing(results)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    meta = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count()}
    OUT.write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print(f"\nwrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
