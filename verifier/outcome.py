"""What a comparison returns, shared by :mod:`verifier.compare` and :mod:`verifier.symbolic` (which
compare calls inside a sandbox worker): kept apart so that neither imports the other for them."""

from __future__ import annotations

from dataclasses import dataclass

from verifier.verdict import Method, Status

__all__ = ["Match", "NeedsSymbolic", "Outcome"]


class NeedsSymbolic(Exception):
    """Raised in process when a leaf pair needs SymPy; the comparison moves to a sandbox worker."""


@dataclass(frozen=True)
class Match:
    """One strategy's answer: equal or not, and why."""

    ok: bool
    why: str  # a short phrase for the verdict's reason


@dataclass(frozen=True)
class Outcome:
    """A decided pair: the verdict's status, the method that decided, the reason."""

    status: Status
    method: Method
    reason: str
