"""The answer verifier: ``verify(pred, ref) -> Verdict`` and ``verify_batch(pairs) -> list[Verdict]``.

Stages, one module each: :mod:`verifier.extract` -> :mod:`verifier.normalize` -> :mod:`verifier.parse`
-> :mod:`verifier.compare` (SymPy only inside :mod:`verifier.sandbox` workers), then the optional
LLM second opinion (:mod:`verifier.judge`). Importing this package never imports torch or SymPy.
"""

from __future__ import annotations

from verifier.api import verify
from verifier.batch import verify_batch
from verifier.config import VerifyConfig
from verifier.extract import extract_answer
from verifier.group import answer_key, group_answers
from verifier.verdict import JudgeInfo, Method, Status, Verdict

__all__ = [
    "JudgeInfo",
    "Method",
    "Status",
    "Verdict",
    "VerifyConfig",
    "answer_key",
    "extract_answer",
    "group_answers",
    "verify",
    "verify_batch",
]
