"""StepScores: aggregation, ProcessBench's first-error rule, spans (tables in fixtures/)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from prm import StepScores

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def _table(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / name).read_text().splitlines() if line.strip()]


def _steps(n: int) -> list[str]:
    return [f"step {i}" for i in range(n)]


@pytest.mark.parametrize("case", _table("prm_aggregate.jsonl"), ids=lambda c: f"{c['how']}-{c['scores']}")
def test_aggregate(case):
    s = StepScores.from_steps(_steps(len(case["scores"])), case["scores"])
    assert math.isclose(s.aggregate(case["how"]), case["expected"], abs_tol=1e-12), case["why"]


@pytest.mark.parametrize(
    "case", _table("prm_first_error.jsonl"), ids=lambda c: f"{c['threshold']}-{c['scores']}"
)
def test_first_error(case):
    s = StepScores.from_steps(_steps(len(case["scores"])), case["scores"])
    assert s.first_error(case["threshold"]) == case["expected"], case["why"]


def test_default_aggregate_is_min_and_default_threshold_half():
    s = StepScores.from_steps(["a", "b"], [0.8, 0.45])
    assert s.aggregate() == 0.45
    assert s.first_error() == 1


def test_unknown_aggregate():
    with pytest.raises(ValueError, match="unknown aggregate 'max'"):
        StepScores.from_steps(["a"], [0.5]).aggregate("max")  # type: ignore[arg-type]


def test_empty_scores_cannot_aggregate():
    with pytest.raises(ValueError, match="no steps"):
        StepScores((), (), "").aggregate()


def test_spans_index_the_solution():
    steps = ["First: 2+3 = 5.", "", "  spaced  ", "Ünïcode ∑ step ки"]
    s = StepScores.from_steps(steps, [0.1, 0.2, 0.3, 0.4])
    assert s.solution == "\n\n".join(steps)
    assert [s.solution[a:b] for a, b in s.spans] == steps
    assert s.steps == tuple(steps)
    assert s.spans[0] == (0, len(steps[0]))
    assert s.spans[1][0] == len(steps[0]) + 2


def test_frozen_and_validated():
    s = StepScores.from_steps(["a"], [0.5])
    with pytest.raises(AttributeError):
        s.scores = (0.1,)  # type: ignore[misc]
    with pytest.raises(ValueError, match="2 scores but 1 spans"):
        StepScores((0.1, 0.2), ((0, 1),), "a")
    with pytest.raises(ValueError, match="outside"):
        StepScores((0.1,), ((0, 5),), "a")


def test_to_dict_round_trips_through_json():
    s = StepScores.from_steps(["a", "b"], [0.25, 0.75])
    d = json.loads(json.dumps(s.to_dict()))
    assert StepScores(tuple(d["scores"]), tuple(tuple(x) for x in d["spans"]), d["solution"]) == s


def test_engine_spans_match_given_steps(loaded):
    steps = ["x = 3", "  so  x + 1 = 4 ", "answer 4"]
    got = loaded["token-classification"].score("find x", steps)
    assert got.steps == tuple(steps)
    assert len(got) == 3
    assert all(0.0 <= p <= 1.0 for p in got.scores)
