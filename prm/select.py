"""``select_best``: pick one of N candidate solutions by PRM score.

Two rules, both returned:

- best-of-N: the candidate whose aggregated step score is highest;
- PRM-weighted majority vote: candidates are grouped by final answer with
  :func:`verifier.group_answers` (answers with one canonical ``verifier.answer_key`` are one answer:
  the same grouping as maj@k in ``mathreward rescore`` and the verl adapter's ``pred``), each group
  weighs the sum of its members' aggregated scores, and the heaviest group's best-scored candidate
  wins. Candidates with no final answer do not vote; when none has one, the vote falls back to
  best-of-N.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prm.scores import STEP_JOINER, Aggregate, StepScores
from prm.steps import SplitMode, split_steps

if TYPE_CHECKING:
    from prm.engine import ProcessRewardModel


@dataclass(frozen=True)
class Selection:
    """What :func:`select_best` chose, and why."""

    best_of_n: int  # index of the candidate with the highest aggregated score
    weighted_vote: int  # index of the best-scored candidate in the heaviest answer group
    scores: tuple[float, ...]  # each candidate's aggregated step score
    answers: tuple[str | None, ...]  # each candidate's final answer as the verifier extracted it
    groups: tuple[tuple[int, ...], ...]  # candidate indices with equivalent answers, heaviest group first
    group_weights: tuple[float, ...]  # summed aggregated score of each group
    step_scores: tuple[StepScores, ...]  # every candidate's step scores

    def to_dict(self) -> dict[str, Any]:
        return {
            "best_of_n": self.best_of_n,
            "weighted_vote": self.weighted_vote,
            "scores": list(self.scores),
            "answers": list(self.answers),
            "groups": [list(g) for g in self.groups],
            "group_weights": list(self.group_weights),
        }


def _final_answer(text: str) -> str | None:
    """The candidate's final answer, extracted by the verifier."""
    from verifier import extract_answer

    found = extract_answer(text)
    return None if found is None else found.answer


def _group(answers: Sequence[str | None], order: Sequence[int]) -> list[list[int]]:
    """Candidates grouped by :func:`verifier.group_answers`, each group's members (and the groups, by
    their first member) in ``order``; candidates with no answer are in none."""
    from verifier import group_answers

    ids = group_answers(answers)
    groups: dict[int, list[int]] = {}
    for i in order:
        gid = ids[i]
        if gid is not None:
            groups.setdefault(gid, []).append(i)
    return list(groups.values())


def select_best(
    question: str,
    candidates: Sequence[str | Sequence[str]],
    *,
    model: ProcessRewardModel | None = None,
    scores: Sequence[StepScores] | None = None,
    aggregate: Aggregate = "min",
    split: SplitMode = "auto",
) -> Selection:
    """Best-of-N and PRM-weighted majority vote over ``candidates``.

    A candidate is a whole solution string (cut with :func:`split_steps` in ``split`` mode) or a
    list of steps. Give ``model`` to score them here, or ``scores`` (one ``StepScores`` per
    candidate, e.g. from an earlier ``score_batch``) to reuse scores.
    """
    if not candidates:
        raise ValueError("select_best needs at least one candidate")
    steps_of: list[list[str]] = [split_steps(c, split) if isinstance(c, str) else list(c) for c in candidates]
    texts = [c if isinstance(c, str) else STEP_JOINER.join(c) for c in candidates]
    if scores is None:
        if model is None:
            raise ValueError("select_best needs a model= to score with, or scores= from an earlier call")
        step_scores = model.score_batch([(question, s) for s in steps_of])
    else:
        if len(scores) != len(candidates):
            raise ValueError(f"{len(scores)} scores for {len(candidates)} candidates")
        step_scores = list(scores)
    agg = [s.aggregate(aggregate) for s in step_scores]
    best = max(range(len(agg)), key=lambda i: (agg[i], -i))
    answers = [_final_answer(t) for t in texts]
    by_score = sorted(range(len(agg)), key=lambda i: (-agg[i], i))
    groups = _group(answers, by_score)
    weights = [sum(agg[i] for i in g) for g in groups]
    ranked = sorted(range(len(groups)), key=lambda k: (-weights[k], by_score.index(groups[k][0])))
    vote = groups[ranked[0]][0] if groups else best
    return Selection(
        best_of_n=best,
        weighted_vote=vote,
        scores=tuple(agg),
        answers=tuple(answers),
        groups=tuple(tuple(groups[k]) for k in ranked),
        group_weights=tuple(weights[k] for k in ranked),
        step_scores=tuple(step_scores),
    )
