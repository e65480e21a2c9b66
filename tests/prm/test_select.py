"""select_best: best-of-N and PRM-weighted majority vote, answers grouped by verifier.group_answers."""

from __future__ import annotations

import pytest

from prm import StepScores, select_best

CANDIDATES = [
    "Add them.\n\nSo the answer is $\\boxed{10}$.",
    "Multiply.\n\nThe answer is $\\boxed{12}$.",
    "Halve 24.\n\nWe get $\\boxed{\\frac{24}{2}}$.",
    "Round.\n\nThus $\\boxed{12.0}$.",
    "I am not sure.\n\nMaybe more work is needed here.",
]
AGG = [0.9, 0.6, 0.55, 0.5, 0.95]


def _scores(aggs):
    return [StepScores.from_steps(["s1", "s2"], [0.99, a]) for a in aggs]


def test_best_of_n_and_weighted_vote_disagree_when_the_majority_is_right():
    sel = select_best("q", CANDIDATES, scores=_scores(AGG))
    assert sel.scores == pytest.approx(AGG)
    assert sel.best_of_n == 4  # the highest score, even with no final answer
    assert sel.answers[4] is None
    assert sel.answers[:4] == ("10", "12", "\\frac{24}{2}", "12.0")
    # 12, 24/2 and 12.0 are one answer for the verifier: 0.6 + 0.55 + 0.5 outweighs 10's 0.9
    assert sel.groups == ((1, 2, 3), (0,))
    assert sel.group_weights == pytest.approx((1.65, 0.9))
    assert sel.weighted_vote == 1  # the best-scored member of the heaviest group


def test_a_strong_single_answer_wins_the_vote():
    sel = select_best("q", CANDIDATES, scores=_scores([0.99, 0.3, 0.3, 0.3, 0.1]))
    assert sel.best_of_n == 0 and sel.weighted_vote == 0


def test_aggregate_choice_changes_the_ranking():
    scores = [
        StepScores.from_steps(["a", "b"], [0.1, 0.9]),  # min 0.1, last 0.9
        StepScores.from_steps(["a", "b"], [0.6, 0.6]),  # min 0.6, last 0.6
    ]
    cands = ["x\n\n$\\boxed{1}$", "y\n\n$\\boxed{2}$"]
    assert select_best("q", cands, scores=scores, aggregate="min").best_of_n == 1
    assert select_best("q", cands, scores=scores, aggregate="last").best_of_n == 0


def test_no_answers_falls_back_to_best_of_n():
    sel = select_best("q", ["no answer\nhere", "none\nhere either"], scores=_scores([0.2, 0.7]))
    assert sel.groups == ()
    assert sel.weighted_vote == sel.best_of_n == 1


def test_needs_model_or_scores_and_candidates():
    with pytest.raises(ValueError, match="model="):
        select_best("q", ["a"])
    with pytest.raises(ValueError, match="at least one"):
        select_best("q", [], scores=[])
    with pytest.raises(ValueError, match="1 scores for 2 candidates"):
        select_best("q", ["a", "b"], scores=_scores([0.5]))


def test_with_a_real_model_scores_come_from_the_engine(loaded):
    pytest.importorskip("torch")
    model = loaded["math-shepherd"]
    sel = model.select_best("What is 5 + 5?", CANDIDATES[:3], aggregate="prod")
    want = model.score_batch([("What is 5 + 5?", c.split("\n\n")) for c in CANDIDATES[:3]])
    assert sel.scores == pytest.approx([w.aggregate("prod") for w in want], abs=1e-9)
    assert sel.best_of_n == max(range(3), key=lambda i: sel.scores[i])
    # candidates given as step lists are scored as given
    as_lists = select_best("What is 5 + 5?", [c.split("\n\n") for c in CANDIDATES[:3]], model=model)
    assert as_lists.step_scores[0].steps == tuple(CANDIDATES[0].split("\n\n"))


def test_the_vote_groups_as_verifier_group_answers_does():
    from verifier import group_answers

    cands = [
        "So $\\boxed{x = 12}$.",
        "Hence $\\boxed{1,2}$.",
        "We get \\boxed{\\{2, 1\\}}.",
        "Thus \\boxed{12}.",
        "Thus \\boxed{13}.",
    ]
    sel = select_best("q", cands, scores=_scores([0.5, 0.4, 0.45, 0.3, 0.8]))
    ids = group_answers(sel.answers)
    assert ids == [0, 1, 1, 0, 2]
    assert {frozenset(g) for g in sel.groups} == {frozenset({0, 3}), frozenset({1, 2}), frozenset({4})}
    assert sel.groups[0] == (2, 1) and sel.weighted_vote == 2  # 0.85 outweighs 0.8 and x = 12 (0.8)
