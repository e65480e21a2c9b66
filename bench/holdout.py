r"""Blind holdout: this verifier and math-verify on fixtures/verifier_holdout.jsonl, in one run.

The holdout table was written from the spec (issue 2) before the verifier's code or case table
was read, so its cases are not shaped by the implementation. This script prints, per category,
the number of cases and the false positives (a wrong answer graded correct: reward hacking) and
false negatives (a right answer graded wrong) of both verifiers, then lists every case where this
verifier disagrees with the table's ``expected``.

    .venv/bin/python -m bench.holdout [--table fixtures/verifier_holdout.jsonl]

math-verify is called as its README shows: ``verify(parse(gold), parse(pred))``, the gold wrapped
in ``$...$`` when it has no math delimiters (columns "mv"). Many holdout preds are bare LaTeX
answers (``\sqrt{8}``), which math-verify does not extract without delimiters, so a second set of
columns ("mv$") also wraps a bare pred in ``$...$``: the fairer anchor for bare answers.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as a script too, not only -m bench.holdout

from bench.verifier import (
    Tally,
    math_verify_check,
    math_verify_wrapped_check,
    quiet_math_verify,
)
from verifier import Verdict, verify

DEFAULT_TABLE = Path(__file__).resolve().parent.parent / "fixtures" / "verifier_holdout.jsonl"
CATEGORIES = (
    "extraction",
    "numbers",
    "expressions",
    "structure",
    "text_units",
    "multiple_choice",
    "adversarial",
    "near_miss",
)


@dataclass(frozen=True)
class Case:
    pred: str
    ref: str
    expected: bool
    category: str
    why: str


def load(path: Path) -> list[Case]:
    cases: list[Case] = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if row["category"] not in CATEGORIES:
                raise ValueError(f"{path}:{lineno}: unknown category {row['category']!r}")
            cases.append(Case(row["pred"], row["ref"], bool(row["expected"]), row["category"], row["why"]))
    return cases


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", type=Path, default=DEFAULT_TABLE)
    ap.add_argument("--no-math-verify", action="store_true", help="skip the anchor (faster)")
    args = ap.parse_args(argv)

    cases = load(args.table)
    if not args.no_math_verify:
        quiet_math_verify()
    ours: dict[str, Tally] = defaultdict(Tally)
    anchor: dict[str, Tally] = defaultdict(Tally)
    anchor_wrapped: dict[str, Tally] = defaultdict(Tally)
    failures: list[tuple[Case, Verdict]] = []
    for case in cases:
        verdict = verify(case.pred, case.ref)
        got = bool(verdict)
        for key in (case.category, "ALL"):
            ours[key].add(got, case.expected)
        if got != case.expected:
            failures.append((case, verdict))
        if not args.no_math_verify:
            # math-verify called exactly as bench/verifier.py calls it (one convention for both benches)
            mv = math_verify_check(case.pred, case.ref)
            mvw = math_verify_wrapped_check(case.pred, case.ref)
            for key in (case.category, "ALL"):
                anchor[key].add(mv, case.expected)
                anchor_wrapped[key].add(mvw, case.expected)

    print(f"holdout: {args.table} ({len(cases)} cases, {sum(not c.expected for c in cases)} expected false)")
    print()
    head = f"{'ours FP':>7} {'ours FN':>7} {'ours err':>8} | {'mv FP':>6} {'mv FN':>6} {'mv err':>6}"
    head += f" | {'mv$ FP':>6} {'mv$ FN':>6} {'mv$ err':>7}"
    print(f"{'category':<16} {'n':>4} | {head}")
    for key in (*CATEGORIES, "ALL"):
        o = ours[key]
        a = anchor[key]
        w = anchor_wrapped[key]
        mv_cols = f"{a.fp:>6} {a.fn:>6} {a.errors:>6} | {w.fp:>6} {w.fn:>6} {w.errors:>7}"
        if args.no_math_verify:
            mv_cols = f"{'-':>6} {'-':>6} {'-':>6} | {'-':>6} {'-':>6} {'-':>7}"
        print(f"{key:<16} {o.n:>4} | {o.fp:>7} {o.fn:>7} {o.errors:>8} | {mv_cols}")
    print()
    print(f"cases where this verifier is wrong: {len(failures)}")
    for case, v in failures:
        kind = "FP" if not case.expected else "FN"
        print(f"--- {kind} [{case.category}] expected={case.expected} why: {case.why}")
        print(f"    pred: {case.pred!r}")
        print(f"    ref:  {case.ref!r}")
        print(f"    ours: status={v.status.value} method={v.method.value}", end=" ")
        print(f"pred_answer={v.pred_answer!r} ref_answer={v.ref_answer!r}")
        print(f"    reason: {v.reason}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
