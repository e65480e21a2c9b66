"""Frozen, hashable configuration of the verifier (it keys caches)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from verifier.judge import JudgeConfig


@dataclass(frozen=True)
class VerifyConfig:
    # hard wall-clock limit on the SymPy part of one call, seconds; the worker running it is
    # replaced when it overruns, and the verdict is TIMEOUT
    timeout_s: float = 3.0
    # address-space limit of each SymPy worker process, MiB; an overrun is TIMEOUT, the caller survives
    memory_mb: int = 1024
    # relative tolerance when one side is an inexact decimal (e.g. 3.14159 vs pi); exact vs exact is exact
    float_rel_tol: float = 1e-6
    # a decimal written with this many or more significant digits is compared to an exact value with
    # float_rel_tol; fewer digits must match the exact value when rounded to the digits written (0.333 != 1/3)
    # 0 disables rounding-based matching: a decimal must then equal the exact value
    allow_rounded_decimals: bool = False
    # percent policy: "25\%" matches 25 and 0.25 when True, only 25 (and "25%") when False
    percent_matches_fraction: bool = True
    # answers longer than this many characters (after extraction) are UNPARSEABLE, never parsed
    max_answer_chars: int = 1000
    # a response longer than this is only searched in its last max_response_chars characters
    max_response_chars: int = 100_000
    # the LLM second opinion; None means the rule-based verdict is final
    judge: JudgeConfig | None = None
