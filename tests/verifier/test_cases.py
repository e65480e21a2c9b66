"""The case table fixtures/verifier_cases.jsonl: every row's expected verdict, in both directions."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from verifier import Status, verify

CASES_PATH = Path(__file__).resolve().parents[2] / "fixtures" / "verifier_cases.jsonl"
CATEGORIES = {
    "extraction", "numbers", "expressions", "structure", "text_units", "multiple_choice", "adversarial",
    "near_miss",
}  # fmt: skip


def load_cases() -> list[dict]:
    with CASES_PATH.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


CASES = load_cases()


def case_id(case: dict) -> str:
    text = f"{case['category']}:{case['pred'][:30]}|{case['ref'][:20]}"
    return text.encode("ascii", "backslashreplace").decode().replace(" ", "_")


def test_table_shape() -> None:
    assert len(CASES) >= 400
    for case in CASES:
        assert set(case) <= {"pred", "ref", "expected", "category", "why", "question"}, case
        assert case["category"] in CATEGORIES, case
        assert isinstance(case["expected"], bool) and case["why"].strip(), case
    counts = Counter((c["category"], c["expected"]) for c in CASES)
    for category in CATEGORIES - {"adversarial"}:
        assert counts[(category, True)] >= 2 and counts[(category, False)] >= 2, category
    assert counts[("adversarial", False)] >= 40


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_case(case: dict) -> None:
    v = verify(case["pred"], case["ref"], question=case.get("question"))
    assert bool(v) is case["expected"], f"{v.status.value}/{v.method.value}: {v.reason} ({case['why']})"
    if case["expected"]:
        assert v.status is Status.CORRECT
    assert v.status is not Status.ERROR, v.reason
