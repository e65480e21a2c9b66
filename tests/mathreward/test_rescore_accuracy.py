"""Metrics and filters against plain references: brute-force pass@k, hand-made majority and filter cases."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest

from mathreward.rescore.accuracy import (
    Summary,
    best_of_n_correct,
    majority_correct,
    pass_at_k,
    problem_metrics,
)
from mathreward.rescore.filters import (
    FilterOptions,
    all_agree_or_all_disagree,
    keep_problem,
    select_responses,
)
from mathreward.rescore.rows import default_ks
from verifier import group_answers

ROOT = Path(__file__).resolve().parents[2]
CASES = [json.loads(line) for line in (ROOT / "fixtures/rescore_cases.jsonl").read_text().splitlines()]


def brute_pass_at_k(n: int, c: int, k: int) -> float:
    """The share of k-subsets of the n samples that hold at least one correct sample."""
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(samples[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", range(1, 9))
def test_pass_at_k_equals_brute_force(n: int) -> None:
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute_pass_at_k(n, c, k), abs=1e-12), (n, c, k)


def test_pass_at_k_equals_binomial_formula_for_large_n() -> None:
    for n, c, k in [(100, 3, 10), (200, 0, 5), (64, 63, 64), (1000, 17, 100)]:
        want = 1 - math.comb(n - c, k) / math.comb(n, k)
        assert pass_at_k(n, c, k) == pytest.approx(want, rel=1e-9)


def test_pass_at_k_rejects_impossible_arguments() -> None:
    with pytest.raises(ValueError, match="k <= n"):
        pass_at_k(4, 1, 5)
    with pytest.raises(ValueError, match="c <= n"):
        pass_at_k(4, 5, 1)


@pytest.mark.parametrize("case", [c for c in CASES if c["kind"] == "maj"], ids=lambda c: c["why"][:40])
def test_majority_cases(case: dict) -> None:
    assert majority_correct(case["groups"], case["correct"], case["k"]) is case["expected"], case["why"]


@pytest.mark.parametrize("case", [c for c in CASES if c["kind"] == "agree"], ids=lambda c: c["why"][:40])
def test_all_agree_or_disagree_cases(case: dict) -> None:
    assert all_agree_or_all_disagree(case["groups"]) is case["expected"], case["why"]


@pytest.mark.parametrize("case", [c for c in CASES if c["kind"] == "select"], ids=lambda c: c["why"][:40])
def test_select_responses_cases(case: dict) -> None:
    opts = FilterOptions(**{case["filter"]: True})
    assert select_responses(case["correct"], opts) == case["expected"], case["why"]


def test_pass_rate_range_is_inclusive_and_majority_filter_applies() -> None:
    opts = FilterOptions(min_pass_rate=0.25, max_pass_rate=0.75)
    assert keep_problem(0.25, [0, 1], opts) and keep_problem(0.75, [0, 1], opts)
    assert not keep_problem(0.0, [0, 1], opts) and not keep_problem(1.0, [0, 0], opts)
    assert not keep_problem(0.5, [0, 0], FilterOptions(majority_filter=True))
    assert keep_problem(0.5, [0, 0, 1], FilterOptions(majority_filter=True))


def test_filter_options_refuse_contradictions() -> None:
    with pytest.raises(ValueError, match="exclude"):
        FilterOptions(keep_correct=True, balanced_pairs=True)
    with pytest.raises(ValueError, match="min_pass_rate"):
        FilterOptions(min_pass_rate=0.8, max_pass_rate=0.2)
    with pytest.raises(ValueError, match="within"):
        FilterOptions(max_pass_rate=1.5)
    assert not FilterOptions().active and FilterOptions(majority_filter=True).active


def test_best_of_n_picks_the_highest_score() -> None:
    assert best_of_n_correct([0.1, 0.9, 0.5], [False, True, False]) is True
    assert best_of_n_correct([0.9, None, 0.5], [False, True, True]) is False
    assert best_of_n_correct([None, None], [True, True]) is None
    assert best_of_n_correct([0.7, 0.7], [True, False]) is True  # a tie goes to the first


def test_grouping_puts_correct_answers_together_and_groups_wrong_ones_by_key() -> None:
    answers = ["1/3", "0.5", "\\frac{1}{3}", "2", None, "1/3 ", "\\frac{2}{4}"]
    correct = [False, True, False, False, False, False, True]
    # 1/3 and \frac{1}{3} share a canonical key; 0.5 and 2/4 are correct (and share one too)
    assert group_answers(answers, correct=correct) == [0, 1, 0, 2, None, 0, 1]


def test_problem_metrics_of_the_hand_computed_problems() -> None:
    expected = json.loads((ROOT / "fixtures/datasets/small_expected.json").read_text())["problems"]
    p3 = expected["p3"]
    m = problem_metrics(p3["correct"], [0, 1, 0, 2], ks=(1, 2, 4))
    for key in ("num_correct", "pass_rate", "pass@1", "pass@2", "pass@4", "maj@1", "maj@2", "maj@4"):
        assert m[key] == pytest.approx(p3[key]), key


def test_summary_averages_over_the_problems_each_k_applies_to() -> None:
    s = Summary(ks=(1, 2))
    s.add_problem(
        correct=[True, False],
        groups=[0, 1],
        statuses=["correct", "incorrect"],
        methods=["numeric", "numeric"],
        judged=[False, True],
        prm_scores=None,
        source="a",
    )
    s.add_problem(
        correct=[True],
        groups=[0],
        statuses=["correct"],
        methods=["judge"],
        judged=[True],
        prm_scores=None,
        source="b",
    )
    d = s.to_dict()
    assert d["accuracy"] == pytest.approx(2 / 3)
    assert d["pass@k"]["1"] == {"value": pytest.approx(0.75), "problems": 2}
    assert d["pass@k"]["2"] == {"value": 1.0, "problems": 1}
    assert d["judge_calls"] == 2 and d["judge_overturned"] == 1
    assert d["accuracy_by_source"]["a"]["accuracy"] == 0.5
    assert "pass@2" in s.format_table()


def test_default_ks() -> None:
    assert default_ks(1) == (1,)
    assert default_ks(4) == (1, 2, 4)
    assert default_ks(10) == (1, 2, 4, 8, 10)
