"""verifier.algebra: pairs decided in process before the sandbox, always as the SymPy step decides them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from verifier.compare import Context, NeedsSymbolic, compare, symbolic_compare
from verifier.config import VerifyConfig
from verifier.normalize import normalize
from verifier.parse import parse_answer

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "fixtures" / "algebra_cases.jsonl"
CASES = [json.loads(line) for line in TABLE.read_text().splitlines() if line]
CFG = VerifyConfig()


@pytest.mark.parametrize("case", CASES, ids=[f"{c['pred']} vs {c['ref']}" for c in CASES])
def test_decided_in_process_exactly_as_sympy_decides(case: dict[str, Any]) -> None:
    pred, ref = parse_answer(normalize(case["pred"])), parse_answer(normalize(case["ref"]))
    rounding = bool(case.get("rounding"))
    with pytest.raises(NeedsSymbolic):  # the plain in-process pass leaves it to SymPy
        compare(pred, ref, Context(CFG, symbolic=False, rounding=rounding))
    algebra = Context(CFG, symbolic=False, rounding=rounding, algebra=True)
    if case["decided"] is None:
        with pytest.raises(NeedsSymbolic):
            compare(pred, ref, algebra)
        return
    out = compare(pred, ref, algebra)
    assert (out.status.value == "correct") is case["decided"], f"{out.reason} ({case['why']})"
    sympy_out = symbolic_compare(pred, ref, CFG, rounding)
    assert (out.status, out.method, out.reason) == (sympy_out.status, sympy_out.method, sympy_out.reason)


def test_a_pair_decided_in_process_never_starts_the_sympy_pool() -> None:
    code = (
        "import sys\n"
        "from verifier import verify\n"
        "from verifier.sandbox import pool_stats\n"
        "from verifier.config import VerifyConfig\n"
        "got = [verify(p, r).status.value for p, r in [('\\\\boxed{(x+3)(x-3)}', 'x^2-9'),"
        " ('The answer is $\\\\sqrt{42}$.', '3\\\\sqrt{2}'), ('\\\\boxed{0.258}', '-\\\\frac{\\\\pi}{2}')]]\n"
        "print(got, pool_stats(VerifyConfig().memory_mb), 'sympy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['correct', 'incorrect', 'incorrect'] {} False"
