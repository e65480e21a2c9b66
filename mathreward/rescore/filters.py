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
from fractions import Fraction

from mathreward.rescore.pass_range import format_rate


@dataclass(frozen=True)
class FilterOptions:
    # keep only the correct responses of each problem; problems with none are dropped
    keep_correct: bool = False
    # keep problems whose pass rate p satisfies min_pass_rate <= p <= max_pass_rate (None: no bound);
    # compared exactly when the bounds are Fractions (the CLI parses them so: pass_range.parse_rate)
    min_pass_rate: Fraction | float | None = None
    max_pass_rate: Fraction | float | None = None
    # keep problems with min_correct <= number of right samples <= max_correct (None: no bound);
    # "solved at least once" is min_correct=1, whatever the number of samples
    min_correct: int | None = None
    max_correct: int | None = None
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
        for name in ("min_correct", "max_correct"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ValueError(f"{name} must be >= 0, got {v}")
        if (
            self.min_correct is not None
            and self.max_correct is not None
            and self.min_correct > self.max_correct
        ):
            raise ValueError(f"min_correct {self.min_correct} > max_correct {self.max_correct}")

    @property
    def active(self) -> bool:
        return (
            self.keep_correct
            or self.balanced_pairs
            or self.majority_filter
            or self.min_pass_rate is not None
            or self.max_pass_rate is not None
            or self.min_correct is not None
            or self.max_correct is not None
        )

    def describe(self) -> list[str]:
        out = []
        if self.min_pass_rate is not None or self.max_pass_rate is not None:
            lo = "0" if self.min_pass_rate is None else format_rate(self.min_pass_rate)
            hi = "1" if self.max_pass_rate is None else format_rate(self.max_pass_rate)
            out.append(f"pass rate in [{lo}, {hi}]")
        if self.min_correct is not None or self.max_correct is not None:
            lo = "0" if self.min_correct is None else str(self.min_correct)
            hi = "n" if self.max_correct is None else str(self.max_correct)
            out.append(f"right samples in [{lo}, {hi}]")
        if self.majority_filter:
            out.append("majority-vote difficulty filter")
        if self.keep_correct:
            out.append("keep correct responses")
        if self.balanced_pairs:
            out.append("balanced pairs")
        return out


def in_pass_rate_range(
    pass_rate: Fraction | float, opts: FilterOptions, num_correct: int | None = None
) -> bool:
    """The pass-rate and right-count bounds; exact when ``pass_rate`` and the bounds are Fractions
    (a Fraction compares exactly with a float too). The count bounds need ``num_correct``."""
    if opts.min_correct is not None or opts.max_correct is not None:
        if num_correct is None:
            raise ValueError("min_correct / max_correct need the number of right samples")
        if opts.min_correct is not None and num_correct < opts.min_correct:
            return False
        if opts.max_correct is not None and num_correct > opts.max_correct:
            return False
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


def keep_problem(
    pass_rate: Fraction | float,
    groups: Sequence[int | None],
    opts: FilterOptions,
    num_correct: int | None = None,
) -> bool:
    """Does the problem pass the problem filters (pass-rate range, majority-vote difficulty)?"""
    if not in_pass_rate_range(pass_rate, opts, num_correct):
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
