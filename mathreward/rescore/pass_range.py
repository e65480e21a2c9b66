"""The pass-rate range of the problem filters, in exact arithmetic.

A bound is read from its text as an exact rational (``0.01`` is 1/100, ``1/2`` is one half, ``50%``
is one half) and compared with the exact pass rate ``num_correct / n`` as a fraction: no float
rounding decides a boundary case. Counts say what rates cannot: ``--min-correct 1`` is "solved at
least once" whatever the number of samples (a rate bound such as 0.01 drops a problem solved once
in 128, since 1/128 < 1/100), so "solved at least once and at most half the time" is
``--min-correct 1 --max-pass-rate 1/2``.
"""

from __future__ import annotations

from fractions import Fraction

__all__ = ["format_rate", "parse_rate"]


def parse_rate(text: str) -> Fraction:
    """A rate in [0, 1] from ``0.25``, ``1/4`` or ``25%``, exactly; ValueError otherwise."""
    raw = text.strip()
    try:
        value = Fraction(raw[:-1].strip()) / 100 if raw.endswith("%") else Fraction(raw)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"expected a rate in [0, 1] (0.25, 1/4 or 25%), got {text!r}") from None
    if not 0 <= value <= 1:
        raise ValueError(f"expected a rate in [0, 1] (0.25, 1/4 or 25%), got {text!r}")
    return value


def format_rate(value: Fraction | float) -> str:
    """``1/2`` for a fraction, ``0.25`` for a float (as given)."""
    if isinstance(value, Fraction):
        return str(value)
    return f"{value:g}"
