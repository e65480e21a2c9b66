"""Frozen, hashable configuration of the verifier (it keys caches)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from verifier.judge.config import JudgeConfig


@dataclass(frozen=True)
class VerifyConfig:
    # hard wall-clock limit on the SymPy part of one call, seconds; the worker running it is
    # replaced when it overruns, and the verdict is TIMEOUT
    timeout_s: float = 3.0
    # address-space limit of each SymPy worker process, MiB; an overrun is TIMEOUT, the caller survives
    memory_mb: int = 1024
    # relative tolerance of the numeric fallback that samples two symbolic expressions at fixed random
    # points when SymPy cannot simplify their difference to 0; never used between two exact numbers
    float_rel_tol: float = 1e-12
    # when True, a decimal also matches an exact value it rounds to, rational or irrational (0.333 == 1/3,
    # 3.14 == pi); when False it must equal it exactly (0.333 != 1/3, 3.14 != pi, 0.5 == 1/2). A question
    # that asks for a rounded or decimal answer ("nearest hundredth", "decimal places", "approximately",
    # "estimate", "significant figures") turns this on for that call
    allow_rounded_decimals: bool = False
    # opt-in, off by default (None): a decimal also matches an irrational exact value (3.14 vs pi,
    # 1.414 vs sqrt 2) without a question asking to round, when it is that value rounded to the places
    # written and has at least this many significant digits. Off, because an RL policy learns to answer
    # 3.14 for every pi: an approximation is not the exact answer unless the question asks for one
    rounded_min_sig_digits: int | None = None
    # a decimal reference with 2 or more significant digits is a rounding the dataset made (TheoremQA:
    # 5.667 for 17/3), read to its last written digit: 17/3, 35.802 and 78.35 match 5.667, 35.8 and
    # 78.3526 (verifier.rounding). False: every reference is exact, for data whose decimals are exact
    # values (money such as 12.5, where 12.46 is wrong)
    rounded_references: bool = True
    # percent policy: "25%" matches 25 and 0.25 when True, only 25 (and "25%") when False
    percent_matches_fraction: bool = True
    # an extracted answer longer than this many characters is UNPARSEABLE, never parsed
    max_answer_chars: int = 1000
    # a response longer than this many characters is searched for its answer only in its last
    # max_response_chars characters
    max_response_chars: int = 100_000
    # strict mode for format rewards: the names of the answer conventions that count (see
    # verifier.extract.RECOGNIZERS: "boxed", "final_answer", "answer_is", "gsm8k", "json", ...); a
    # response that states its answer any other way is NO_ANSWER. None (the default): every convention.
    # ("boxed",) pays only for a \boxed{} answer, for a prompt that demanded one
    answer_conventions: tuple[str, ...] | None = None
    # the LLM second opinion; None means the rule-based verdict is final
    judge: JudgeConfig | None = None
