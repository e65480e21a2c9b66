"""A problem's difficulty bucket, from how many of its n samples were right (exact, no floats).

- ``unsolved``: no sample right;
- ``hard``: right at most a third of the time (0 < c/n <= 1/3);
- ``medium``: more than a third, at most two thirds (1/3 < c/n <= 2/3);
- ``easy``: more than two thirds, not always (2/3 < c/n < 1);
- ``solved``: every sample right.

A problem with no samples has no bucket (None).
"""

from __future__ import annotations

from fractions import Fraction

__all__ = ["BUCKETS", "difficulty_bucket"]

BUCKETS = ("unsolved", "hard", "medium", "easy", "solved")


def difficulty_bucket(num_correct: int, n: int) -> str | None:
    if n <= 0:
        return None
    if num_correct <= 0:
        return "unsolved"
    if num_correct >= n:
        return "solved"
    rate = Fraction(num_correct, n)
    if rate <= Fraction(1, 3):
        return "hard"
    if rate <= Fraction(2, 3):
        return "medium"
    return "easy"
