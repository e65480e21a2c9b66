"""``verify_batch``: many pairs at once, each a time-limited task in the sandbox pool, all cores busy.

Every pair's whole rule-based ``verify`` (extraction, normalisation, parsing, comparison) runs in a
sandbox worker as one task under ``config.timeout_s``; inside the worker, verify's SymPy step runs
directly (the worker is already the sandbox). Pairs travel to the workers in chunks, but each pair
keeps its own time limit: a pair that overruns is TIMEOUT, its worker is replaced, and the rest of
its chunk goes on in the new worker. A malformed pair gets its own ERROR verdict; the others are
answered. When ``config.judge`` is set, the judge's batched second opinion runs last, here in the
caller (it does network I/O, not SymPy work).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from verifier.config import VerifyConfig
from verifier.sandbox import SandboxCrash, SandboxTimeout, map_limited
from verifier.verdict import Method, Status, Verdict

__all__ = ["verify_batch"]


def _verify_in_worker(pred: str, ref: str, question: str | None, config: VerifyConfig) -> Verdict:
    """One pair, run inside a sandbox worker."""
    from verifier.api import verify

    return verify(pred, ref, question=question, config=config)


def _error(reason: str) -> Verdict:
    return Verdict(status=Status.ERROR, method=Method.NONE, pred_answer=None, ref_answer=None, reason=reason)


def _check_pair(index: int, pair: Any, question: Any) -> str | None:
    """Why this pair cannot be verified, or None when it can."""
    if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
        return f"pair {index}: expected a (pred, ref) pair of str, got {type(pair).__name__}"
    pred, ref = pair
    if not isinstance(pred, str):
        return f"pair {index}: pred must be str, got {type(pred).__name__}"
    if not isinstance(ref, str):
        return f"pair {index}: ref must be str, got {type(ref).__name__}"
    if question is not None and not isinstance(question, str):
        return f"pair {index}: question must be str or None, got {type(question).__name__}"
    return None


def _from_failure(failure: BaseException, config: VerifyConfig) -> Verdict:
    """The verdict for a pair whose task did not return one."""
    if isinstance(failure, SandboxTimeout):
        return Verdict(
            status=Status.TIMEOUT,
            method=Method.NONE,
            pred_answer=None,
            ref_answer=None,
            reason=f"verification overran its {config.timeout_s:g} s limit",
            elapsed_s=config.timeout_s,
        )
    if isinstance(failure, SandboxCrash) and failure.exc_type == "MemoryError":
        return Verdict(
            status=Status.TIMEOUT,
            method=Method.NONE,
            pred_answer=None,
            ref_answer=None,
            reason=f"verification hit its {config.memory_mb} MiB memory limit",
        )
    return _error(f"verification failed: {type(failure).__name__}: {failure}")


def verify_batch(
    pairs: Sequence[tuple[str, str]],
    *,
    questions: Sequence[str | None] | None = None,
    config: VerifyConfig | None = None,
    workers: int | None = None,
) -> list[Verdict]:
    """Verify every ``(pred, ref)`` pair; one Verdict per pair, in input order.

    ``questions``, when given, has one entry (or None) per pair and is passed to ``verify`` and the
    judge. ``workers`` caps how many worker processes serve this call (default: all cores). Each pair
    is limited to ``config.timeout_s`` seconds and ``config.memory_mb`` MiB; a pair that overruns is
    TIMEOUT, a malformed pair is ERROR, and neither costs the other pairs their answers.
    """
    config = config if config is not None else VerifyConfig()
    items = list(pairs)
    if questions is None:
        qs: list[Any] = [None] * len(items)
    else:
        qs = list(questions)
        if len(qs) != len(items):
            raise ValueError(f"questions has {len(qs)} entries for {len(items)} pairs")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")

    rule_config = dataclasses.replace(config, judge=None)
    verdicts: list[Verdict | None] = [None] * len(items)
    todo: list[int] = []
    for i, (pair, question) in enumerate(zip(items, qs, strict=True)):
        problem = _check_pair(i, pair, question)
        if problem is None:
            todo.append(i)
        else:
            verdicts[i] = _error(problem)

    outcomes = map_limited(
        _verify_in_worker,
        [(items[i][0], items[i][1], qs[i], rule_config) for i in todo],
        timeout_s=config.timeout_s,
        memory_mb=config.memory_mb,
        workers=workers,
    )
    for i, outcome in zip(todo, outcomes, strict=True):
        verdicts[i] = outcome if isinstance(outcome, Verdict) else _from_failure(outcome, config)
    done = [v for v in verdicts if v is not None]
    assert len(done) == len(items), "every pair has a verdict"

    if config.judge is not None:
        from verifier import judge

        clean = [q if isinstance(q, str) else None for q in qs]  # a bad question is already an ERROR
        done = judge.second_opinion_batch(done, clean, config)
    return done
