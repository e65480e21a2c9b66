"""Math-Shepherd annotation against the scripted policy: every label equals the scripted truth."""

from __future__ import annotations

import pytest

from prm.annotate import (
    RolloutConfig,
    Solution,
    Timing,
    annotate,
    local_verify_batch,
    math_shepherd_text,
    prefix_text,
    render_prompt,
    stepwise_row,
)
from prm.generate import SamplingParams, open_generator
from tests.prm.scripted_policy import ScriptedServer, success_p

N = 4
CONFIG = RolloutConfig(SamplingParams(n=N, seed=11, max_tokens=32))

SOLUTIONS = [
    # p after each prefix: 0.5, 0.75, 0.0; the final answer is wrong
    Solution("What is it? key=17", "17", ("we start", "this is likely", "then oops", "so \\boxed{18}")),
    # the question sets p = 0.25; the final answer is right
    Solution("What? key=5 unlikely", "5", ("a", "b sure", "\\boxed{5}")),
    # one step: no rollouts, the label is the verdict
    Solution("Tell me key=2", "2", ("\\boxed{2}",)),
    # shares the first two prefixes of the first solution's question and steps: asked once
    Solution("What is it? key=17", "17", ("we start", "this is likely", "c", "so \\boxed{17}")),
]


def truth(s: Solution) -> tuple[list[bool], list[float]]:
    soft = []
    for k in range(1, len(s.steps)):
        prompt = render_prompt(CONFIG.template, s.question) + prefix_text(s.steps, k, CONFIG.step_sep)
        soft.append(round(success_p(prompt) * N) / N)
    final = success_p(" ".join([f"key={s.reference}", *s.steps])) == 1.0
    return [x > 0 for x in soft] + [final], [*soft, 1.0 if final else 0.0]


def test_labels_equal_the_scripted_truth_and_no_prefix_is_asked_twice() -> None:
    with ScriptedServer() as srv:
        gen = open_generator(srv.base_url, "scripted")
        timing = Timing()
        results = annotate(SOLUTIONS, gen, CONFIG, local_verify_batch, timing)
        gen.close()
        asked = srv.log.entries()
    for s, r in zip(SOLUTIONS, results, strict=True):
        labels, soft = truth(s)
        assert r.labels == labels and r.soft_labels == soft
        assert r.rollouts == [N] * (len(s.steps) - 1) + [0]
        assert r.correct_rollouts[:-1] == [round(x * N) for x in soft[:-1]]
    assert results[0].soft_labels == [0.5, 0.75, 0.0, 0.0]
    assert results[1].labels == [True, True, True] and results[1].soft_labels == [0.25, 1.0, 1.0]
    assert results[2].labels == [True] and results[2].rollouts == [0]
    assert len(asked) == len(set(asked)) == 3 + 2 + 0 + 1  # the shared prefixes went out once
    assert {a[1] for a in asked} == {N} and {a[2] for a in asked} == {11}
    assert timing.rollouts == 6 * N + 2 * N and timing.requests == 8  # 8 asked, 6 sent

    # each probe's rollouts are one right and one wrong text: identical ones are verified once
    def distinct(counts: list[int]) -> int:
        return sum((c > 0) + (c < N) for c in counts)

    shared = distinct(results[3].correct_rollouts[:2])  # the same texts as the first solution's
    assert timing.verified == sum(distinct(r.correct_rollouts[:-1]) for r in results) - shared


def test_each_prefix_holds_steps_one_to_k() -> None:
    s = SOLUTIONS[0]
    with ScriptedServer() as srv:
        gen = open_generator(srv.base_url, "scripted")
        annotate([s], gen, CONFIG)
        gen.close()
        prompts = sorted(r["prompt"] for r in srv.log.requests)
    assert prompts == sorted(
        [
            "What is it? key=17\n\nwe start\n\n",
            "What is it? key=17\n\nwe start\n\nthis is likely\n\n",
            "What is it? key=17\n\nwe start\n\nthis is likely\n\nthen oops\n\n",
        ]
    )


def test_a_solution_without_steps_is_refused() -> None:
    with ScriptedServer() as srv:
        gen = open_generator(srv.base_url, "scripted")
        with pytest.raises(ValueError, match="at least one step"):
            annotate([Solution("q key=1", "1", ())], gen, CONFIG)
        gen.close()


def test_math_shepherd_texts_and_the_stepwise_row() -> None:
    s = Solution("Q?", "1", ("a = 1", "so \\boxed{1}"))
    assert math_shepherd_text(s.question, s.steps) == "Q? a = 1 ки\nso \\boxed{1} ки"
    assert math_shepherd_text(s.question, s.steps, [True, False]) == "Q? a = 1 +\nso \\boxed{1} -"
    from prm.annotate import StepLabels

    row = stepwise_row(s, StepLabels([True, False], [0.5, 0.0], [4, 0], [2, 0], [1, 0]))
    assert row["prompt"] == "Q?" and row["completions"] == ["a = 1", "so \\boxed{1}"]
    assert row["verify_errors"] == [1, 0]
    assert row["labels"] == [True, False] and row["soft_labels"] == [0.5, 0.0]


def test_the_template_must_hold_the_question() -> None:
    with pytest.raises(ValueError, match="question"):
        RolloutConfig(template="no slot")
    assert render_prompt("<q>{question}</q> \\boxed{}", "x") == "<q>x</q> \\boxed{}"
