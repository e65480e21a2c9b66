"""Property tests (hypothesis) of verify and verify_batch, with the real sandbox pool.

- verify never raises for any text, and returns within its limit (plus slack for a loaded machine);
- verify(x, x) is correct for generated expressions written in LaTeX and in plain text;
- the same verdicts from 8 threads at once and from verify_batch as from sequential calls;
- pathological inputs come back TIMEOUT or UNPARSEABLE (or NO_ANSWER / INCORRECT, never CORRECT)
  within the limit, and the process survives.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.verifier import pathological
from verifier import Status, Verdict, VerifyConfig, answer_key, verify, verify_batch

CONFIG = VerifyConfig(timeout_s=2.0)
# how much later than its limit a call may return on a loaded 2-core CI machine
SLACK_S = 3.0
REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"
# a child interpreter's start, imports and first worker, before its first verdict
STARTUP_S = 20.0
PROPS = settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])


def timed(pred: str, ref: str, config: VerifyConfig = CONFIG) -> tuple[Verdict, float]:
    start = time.monotonic()
    verdict = verify(pred, ref, config=config)
    return verdict, time.monotonic() - start


# ---------------------------------------------------------------- arbitrary text

LATEX_TOKENS = [
    "\\frac",
    "\\dfrac",
    "\\sqrt",
    "\\boxed{",
    "\\left(",
    "\\right)",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "^",
    "_",
    "\\pi",
    "\\infty",
    "\\cup",
    "\\pm",
    "\\cdot",
    "\\times",
    "x",
    "y",
    "i",
    "e",
    "1",
    "2",
    "0",
    "9",
    ".",
    ",",
    "=",
    "<",
    "\\le",
    "-",
    "+",
    "/",
    "%",
    "\\%",
    "\\text{",
    "\\begin{pmatrix}",
    "\\end{pmatrix}",
    "&",
    "\\\\",
    "$",
    "The final answer is",
    "#### ",
    "**Answer:**",
    " ",
    "\n",
    "\\!",
    "\\,",
    "²",
    "−",
]
latexish = st.lists(st.sampled_from(LATEX_TOKENS), max_size=40).map("".join)
any_text = st.one_of(st.text(max_size=200), latexish)


@PROPS
@given(pred=any_text, ref=any_text)
def test_verify_never_raises_and_keeps_its_limit(pred: str, ref: str) -> None:
    verdict, seconds = timed(pred, ref)
    assert isinstance(verdict, Verdict)
    # ERROR for a str input only when an argument is unusable (an empty reference), never a crash
    assert verdict.status is not Status.ERROR or verdict.reason.startswith("bad argument"), verdict.reason
    assert seconds < CONFIG.timeout_s + SLACK_S
    assert bool(verdict) == (verdict.status is Status.CORRECT)


@PROPS
@given(text=any_text)
def test_a_response_never_matches_an_empty_reference(text: str) -> None:
    assert not verify(text, "", config=CONFIG)


# ---------------------------------------------------------------- verify(x, x)


@dataclass(frozen=True)
class Expr:
    latex: str
    plain: str
    atomic: bool  # needs no parentheses as a factor or a base


def integer(n: int) -> Expr:
    return Expr(str(n), str(n), n >= 0)


def fraction(f: Fraction) -> Expr:
    if f.denominator == 1:
        return integer(f.numerator)
    sign = "-" if f < 0 else ""
    p, q = abs(f.numerator), f.denominator
    return Expr(f"{sign}\\frac{{{p}}}{{{q}}}", f"{sign}{p}/{q}", False)


def symbol(name: str) -> Expr:
    return Expr(name, name, True)


def wrap(e: Expr) -> Expr:
    return e if e.atomic else Expr(f"\\left({e.latex}\\right)", f"({e.plain})", True)


def total(parts: list[Expr]) -> Expr:
    return Expr(" + ".join(wrap(p).latex for p in parts), " + ".join(wrap(p).plain for p in parts), False)


def product(parts: list[Expr]) -> Expr:
    ps = [wrap(p) for p in parts]
    return Expr(" \\cdot ".join(p.latex for p in ps), "*".join(p.plain for p in ps), False)


def power(base: Expr, k: int) -> Expr:
    b = wrap(base)
    return Expr(f"{b.latex}^{{{k}}}", f"{b.plain}^{k}", False)  # wrapped again as a base: no a^2^3


leaves = st.one_of(
    st.integers(-50, 10**6).map(integer),
    st.fractions(min_value=-100, max_value=100, max_denominator=60).map(fraction),
    st.sampled_from(["x", "y", "z", "a", "b"]).map(symbol),
)
expressions = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(total),
        st.lists(inner, min_size=2, max_size=3).map(product),
        st.tuples(inner, st.integers(2, 3)).map(lambda t: power(*t)),
    ),
    max_leaves=6,
)


@PROPS
@given(e=expressions)
def test_an_expression_matches_itself_in_latex(e: Expr) -> None:
    verdict = verify(f"The final answer is $\\boxed{{{e.latex}}}$.", e.latex, config=CONFIG)
    assert verdict.correct, (e.latex, verdict)


@PROPS
@given(e=expressions)
def test_an_expression_matches_itself_in_plain_text(e: Expr) -> None:
    verdict = verify(e.plain, e.plain, config=CONFIG)
    assert verdict.correct, (e.plain, verdict)


@PROPS
@given(e=expressions)
def test_latex_and_plain_spellings_of_an_expression_match(e: Expr) -> None:
    verdict = verify(f"\\boxed{{{e.latex}}}", e.plain, config=CONFIG)
    assert verdict.correct, (e.latex, e.plain, verdict)


@PROPS
@given(e=expressions)
def test_latex_and_plain_spellings_share_an_answer_key(e: Expr) -> None:
    assert answer_key(e.latex) == answer_key(e.plain) == answer_key(f"$\\displaystyle {e.latex}$")


@PROPS
@given(
    items=st.lists(
        st.fractions(min_value=-20, max_value=20, max_denominator=9).map(fraction), min_size=1, max_size=5
    ),
    data=st.data(),
)
def test_a_set_in_any_order_and_spelling_has_one_key_and_verify_agrees(items: list[Expr], data: Any) -> None:
    shuffled = data.draw(st.permutations(items))
    a = "\\{" + ", ".join(i.latex for i in items) + "\\}"
    b = ", ".join(i.plain for i in shuffled)
    assert answer_key(a) == answer_key(b)
    assert verify(b, a, config=CONFIG).correct


# ---------------------------------------------------------------- concurrency and batch


def key(v: Verdict) -> tuple[Any, ...]:
    return (v.status, v.method, v.pred_answer, v.ref_answer, v.reason)


def fixture_pairs(n: int) -> list[tuple[str, str]]:
    rows: list[dict[str, Any]] = []
    for name in ("verifier_cases.jsonl", "verifier_responses.jsonl"):
        path = FIXTURES / name
        if path.exists():
            with path.open(encoding="utf-8") as f:
                rows += [json.loads(line) for line in f]
    step = max(1, len(rows) // n)
    return [(r["pred"], r["ref"]) for r in rows[::step]][:n]


# a limit no fixture pair comes near even on a loaded machine: these tests compare verdicts, not limits
RELAXED = VerifyConfig(timeout_s=20.0)


def test_threads_and_verify_batch_agree_with_sequential_calls() -> None:
    pairs = fixture_pairs(120)
    assert len(pairs) >= 100
    sequential = [key(verify(p, r, config=RELAXED)) for p, r in pairs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = [key(v) for v in pool.map(lambda pr: verify(pr[0], pr[1], config=RELAXED), pairs)]
    assert threaded == sequential
    assert [key(v) for v in verify_batch(pairs, config=RELAXED)] == sequential


@settings(deadline=None, max_examples=15)
@given(exprs=st.lists(expressions, min_size=1, max_size=12))
def test_verify_batch_equals_verify_on_generated_pairs(exprs: list[Expr]) -> None:
    pairs = [(f"\\boxed{{{a.latex}}}", b.plain) for a, b in zip(exprs, exprs[1:] + exprs[:1], strict=True)]
    assert [key(v) for v in verify_batch(pairs, config=RELAXED)] == [
        key(verify(p, r, config=RELAXED)) for p, r in pairs
    ]


# ---------------------------------------------------------------- pathological inputs


def test_pathological_inputs_stay_within_the_limit_and_the_process_survives() -> None:
    """Each case in a child process, read line by line with a deadline, so an overrun fails fast."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.verifier.pathological"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    allowed = {name: statuses for name, _pred, _ref, statuses in pathological.CASES}
    limit = pathological.TIMEOUT_S + SLACK_S
    problems: list[str] = []
    try:
        for i, name in enumerate([*allowed, "after"]):
            wait = limit + (STARTUP_S if i == 0 else 0.0)
            ready, _, _ = select.select([child.stdout], [], [], wait)
            if not ready:
                problems.append(f"{name!r}: no verdict within {wait:g} s (the call overran its limit)")
                break
            line = child.stdout.readline()
            if not line:
                problems.append(f"{name!r}: the process died: {child.stderr.read() if child.stderr else ''}")
                break
            got = json.loads(line)
            assert got["name"] == name
            if name == "after":
                if not got["alive"]:
                    problems.append("the verifier stopped answering after the pathological inputs")
                continue
            if got["status"] not in allowed[name]:
                problems.append(
                    f"{name!r}: {got['status']} ({got['reason']}), expected one of {allowed[name]}"
                )
            if got["seconds"] > limit:
                problems.append(
                    f"{name!r}: took {got['seconds']:.1f} s, over the {pathological.TIMEOUT_S:g} s limit"
                )
    finally:
        child.kill()
        child.wait()
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()
    assert not problems, "\n".join(problems)
