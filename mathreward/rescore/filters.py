"""The filters training pipelines apply to graded samples, each a pure function of one problem.

Problem filters keep or drop a whole row, from the metrics of all its samples (before any response is
dropped): the pass-rate range and the majority-vote difficulty filter. Response filters then choose
which of the row's responses stay: keep the correct ones (rejection sampling for SFT), or balanced
pairs (as many incorrect as correct, for preference data). A row left with no response is dropped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class FilterOptions:
    # keep only the correct responses of each problem; problems with none are dropped
    keep_correct: bool = False
    # keep problems whose pass rate p satisfies min_pass_rate <= p <= max_pass_rate (None: no bound)
    min_pass_rate: float | None = None
    max_pass_rate: float | None = None
    # drop problems whose samples all give the same answer, or all give different answers (or none)
    majority_filter: bool = False
    # keep m correct and m incorrect responses, m = min(#correct, #incorrect), each in input order;
    # problems with no correct or no incorrect response are dropped
    balanced_pairs: bool = False

    def __post_init__(self) -> None:
        if self.keep_correct and self.balanced_pairs:
            raise ValueError("keep_correct and balanced_pairs exclude each other")
        for name in ("min_pass_rate", "max_pass_rate"):
            v = getattr(self, name)
            if v is not None and not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {v}")
        if (
            self.min_pass_rate is not None
            and self.max_pass_rate is not None
            and self.min_pass_rate > self.max_pass_rate
        ):
            raise ValueError(f"min_pass_rate {self.min_pass_rate} > max_pass_rate {self.max_pass_rate}")

    @property
    def active(self) -> bool:
        return (
            self.keep_correct
            or self.balanced_pairs
            or self.majority_filter
            or self.min_pass_rate is not None
            or self.max_pass_rate is not None
        )

    def describe(self) -> list[str]:
        out = []
        if self.min_pass_rate is not None or self.max_pass_rate is not None:
            lo = 0.0 if self.min_pass_rate is None else self.min_pass_rate
            hi = 1.0 if self.max_pass_rate is None else self.max_pass_rate
            out.append(f"pass rate in [{lo:g}, {hi:g}]")
        if self.majority_filter:
            out.append("majority-vote difficulty filter")
        if self.keep_correct:
            out.append("keep correct responses")
        if self.balanced_pairs:
            out.append("balanced pairs")
        return out


def in_pass_rate_range(pass_rate: float, opts: FilterOptions) -> bool:
    if opts.min_pass_rate is not None and pass_rate < opts.min_pass_rate:
        return False
    return not (opts.max_pass_rate is not None and pass_rate > opts.max_pass_rate)


def all_agree_or_all_disagree(groups: Sequence[int | None]) -> bool:
    """True when every sample gives the same answer, or no two samples give the same answer.

    ``groups`` holds each sample's answer group (equal answers share a group; None: no answer). A sample
    without an answer agrees with nobody. One sample alone counts as all agreeing.
    """
    if groups and all(g is not None for g in groups) and len(set(groups)) == 1:
        return True
    counts = Counter(g for g in groups if g is not None)
    return all(c < 2 for c in counts.values())


def keep_problem(pass_rate: float, groups: Sequence[int | None], opts: FilterOptions) -> bool:
    """Does the problem pass the problem filters (pass-rate range, majority-vote difficulty)?"""
    if not in_pass_rate_range(pass_rate, opts):
        return False
    return not (opts.majority_filter and all_agree_or_all_disagree(groups))


def select_responses(correct: Sequence[bool], opts: FilterOptions) -> list[int]:
    """Indices of the responses to keep, in input order (all of them when no response filter is on)."""
    idx = list(range(len(correct)))
    if opts.keep_correct:
        return [i for i in idx if correct[i]]
    if opts.balanced_pairs:
        good = [i for i in idx if correct[i]]
        bad = [i for i in idx if not correct[i]]
        m = min(len(good), len(bad))
        return sorted(good[:m] + bad[:m])
    return idx
