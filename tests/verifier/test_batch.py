"""verify_batch with the real sandbox pool: order, equality with verify, bad pairs, limits."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from verifier import Method, Status, Verdict, VerifyConfig, verify, verify_batch

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
# a limit no fixture pair comes near even on a loaded machine: these tests compare verdicts, not limits
RELAXED = VerifyConfig(timeout_s=20.0)


def responses(n: int) -> list[dict[str, Any]]:
    with (FIXTURES / "verifier_responses.jsonl").open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return rows[:: max(1, len(rows) // n)][:n]


def key(v: Verdict) -> tuple[Any, ...]:
    """Everything a verdict says except its timing."""
    return (v.status, v.method, v.pred_answer, v.ref_answer, v.reason)


def test_same_verdicts_as_verify_in_input_order() -> None:
    rows = responses(60)
    pairs = [(r["pred"], r["ref"]) for r in rows]
    sequential = [verify(p, r, config=RELAXED) for p, r in pairs]
    batched = verify_batch(pairs, config=RELAXED)
    assert [key(v) for v in batched] == [key(v) for v in sequential]
    assert all(v.elapsed_s > 0 for v in batched)


def test_one_worker_and_all_workers_agree() -> None:
    pairs = [(r["pred"], r["ref"]) for r in responses(40)]
    assert [key(v) for v in verify_batch(pairs, config=RELAXED, workers=1)] == [
        key(v) for v in verify_batch(pairs, config=RELAXED, workers=2)
    ]


def test_each_bad_pair_gets_its_own_error_and_the_rest_are_answered() -> None:
    pairs: list[Any] = [
        ("\\boxed{\\frac12}", "0.5"),
        (1, "1"),
        ("1", None),
        ("only one",),
        "ab",
        None,
        ("x^2-1", "(x-1)(x+1)"),
    ]
    out = verify_batch(pairs)
    assert len(out) == len(pairs)
    assert out[0].correct and out[6].correct
    for i in (1, 2, 3, 4, 5):
        assert out[i].status is Status.ERROR
        assert out[i].method is Method.NONE
        assert out[i].reason.startswith(f"pair {i}:")
    assert "pred must be str, got int" in out[1].reason
    assert "ref must be str, got NoneType" in out[2].reason
    assert "(pred, ref) pair" in out[3].reason and "(pred, ref) pair" in out[5].reason


def test_questions_go_with_their_pairs() -> None:
    pairs = [("\\boxed{5}", "5"), ("\\boxed{5}", "5")]
    out = verify_batch(pairs, questions=["What is 2+3?", 7])  # type: ignore[list-item]
    assert out[0].correct
    assert out[1].status is Status.ERROR and "question must be str or None" in out[1].reason
    with pytest.raises(ValueError, match="questions has 1 entries for 2 pairs"):
        verify_batch(pairs, questions=["q"])


def test_bad_arguments_of_the_call_itself_are_refused() -> None:
    with pytest.raises(ValueError, match="workers"):
        verify_batch([("1", "1")], workers=0)
    assert verify_batch([]) == []


def test_a_pair_that_overruns_is_timeout_and_the_pool_recovers() -> None:
    # proving sin^2 + cos^2 = 1 takes SymPy tens of milliseconds even warm (hundreds cold); 5 ms is too little
    tight = VerifyConfig(timeout_s=0.005)
    slow = [(f"\\boxed{{\\sin^2 ({k}x) + \\cos^2 ({k}x)}}", "1") for k in (17, 19)]
    out = verify_batch([slow[0], (2, "2"), slow[1]], config=tight, workers=1)
    assert [v.status for v in out] == [Status.TIMEOUT, Status.ERROR, Status.TIMEOUT]
    assert "0.005 s limit" in out[0].reason
    # the killed workers were replaced: the same pairs under the default limit are answered
    assert all(v.correct for v in verify_batch(slow))


def test_pathological_pairs_do_not_cost_the_others() -> None:
    config = VerifyConfig(timeout_s=2.0)
    bad = [
        ("$9^{9^{9^{9}}}$", "1"),
        ("\\boxed{1000000!}", "5"),
        ("\\boxed{" + "{" * 10_000 + "1" + "}" * 10_000 + "}", "1"),
        ("\\boxed{" + "\\frac{1}{" * 5_000 + "2" + "}" * 5_000 + "}", "1"),
    ]
    good = [("\\boxed{\\frac{3}{8}}", "0.375"), ("The final answer is $(-\\infty, 2]$.", "(-\\infty,2]")]
    start = time.monotonic()
    out = verify_batch(bad + good, config=config)
    # each pair has its own 2 s limit and two workers share them: far less than the sum of limits
    assert time.monotonic() - start < config.timeout_s * len(bad) + 10
    for v in out[: len(bad)]:
        assert v.status in (Status.TIMEOUT, Status.UNPARSEABLE, Status.INCORRECT), v
    assert [v.correct for v in out[len(bad) :]] == [True, True]
