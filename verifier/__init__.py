"""The answer verifier: ``verify(pred, ref) -> Verdict``.

Stages, one module each: :mod:`verifier.extract` -> :mod:`verifier.normalize` -> :mod:`verifier.parse`
-> :mod:`verifier.compare` (SymPy only inside :mod:`verifier.sandbox` workers), then the optional
LLM second opinion (:mod:`verifier.judge`). Importing this package never imports torch or SymPy.
"""

from __future__ import annotations

from collections.abc import Sequence

from verifier.api import verify
from verifier.config import VerifyConfig
from verifier.extract import extract_answer
from verifier.verdict import JudgeInfo, Method, Status, Verdict

__all__ = [
    "JudgeInfo",
    "Method",
    "Status",
    "Verdict",
    "VerifyConfig",
    "extract_answer",
    "verify",
    "verify_batch",
]


def verify_batch(
    pairs: Sequence[tuple[str, str]],
    *,
    questions: Sequence[str | None] | None = None,
    config: VerifyConfig | None = None,
    workers: int | None = None,
) -> list[Verdict]:
    """Verify many pairs on all cores, in input order (see :mod:`verifier.batch`)."""
    from verifier.batch import verify_batch as _verify_batch

    return _verify_batch(pairs, questions=questions, config=config, workers=workers)
