"""The adapters' side of the backend seam: clean a trainer's batch, grade it where
:func:`mathreward.backend.process_backend` says, and put each verdict back in its place.

Where the work runs is chosen by :mod:`mathreward.backend`, as for rescore: a ``server="host:port"``
keyword wins (several replicas: ``"h1:p,h2:p"``), then ``MATHREWARD_SERVER``; with neither, the
work runs in this process (``verifier.verify`` / ``verify_batch``, and for step scores a PRM loaded
from ``prm_model=`` or ``MATHREWARD_PRM_MODEL``). A server is reached with ``MATHREWARD_TOKEN``, the
``MATHREWARD_TLS_*`` files and the ``MATHREWARD_TIMEOUT`` deadline (:class:`~mathreward.backend.ServerSpec`).

Process safety (:func:`~mathreward.backend.process_backend`): trainers pickle the adapters to Ray
workers and fork data-loader processes. Nothing is created at import; backends, gRPC channels and
PRM models are made on first use and kept per process (a forked child builds its own and keeps its
parent's alive, unused), asyncio clients per event loop. The in-process verifier's sandbox pool is
keyed by pid the same way (``verifier.sandbox``).

Errors: a bad item (a missing or non-text reference, say) gets its own ``ERROR`` verdict and the
rest of the batch is answered; a server that cannot be reached raises
:class:`~mathreward.backend.BackendError` (also importable as :data:`RewardBackendError`), because
silently turning an outage into "incorrect" rewards would train the policy on noise.
"""

from __future__ import annotations

import numbers
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from mathreward.adapters._settings import check_labels
from mathreward.backend import ENV_PRM_MODEL, ENV_SERVER, ENV_TOKEN, BackendError, StepResult, process_backend
from verifier.verdict import Method, Status, Verdict

__all__ = [
    "ENV_PRM_MODEL",
    "ENV_SERVER",
    "ENV_TOKEN",
    "RewardBackendError",
    "StepResult",
    "VerifyFn",
    "averify_many",
    "error_verdict",
    "verify_many",
]

# what grades clean (response, reference) pairs off the event loop: a backend's ``averify_batch``
# (:class:`mathreward.backend.Backend`), or the server's own VerifyEngine when the HTTP routes run
# inside ``mathreward serve``
VerifyFn = Callable[[list[tuple[str, str]], list[str | None]], Awaitable[list[Verdict]]]

# the name the adapters raised before the one seam; the same class, so either name catches it
RewardBackendError = BackendError


def error_verdict(reason: str) -> Verdict:
    """An ``ERROR`` verdict for an item that could not be graded (the reason names the bad argument)."""
    return Verdict(status=Status.ERROR, method=Method.NONE, pred_answer=None, ref_answer=None, reason=reason)


def as_text(value: Any, name: str, *, lenient: bool = False) -> str | Verdict:
    """``value`` as text, or an ``ERROR`` verdict that names the argument.

    With ``lenient`` (references), numbers become their decimal string (datasets store GSM8K-style
    answers as integers) and a one-element list its element. ``None`` and anything else are errors.
    """
    if isinstance(value, str):
        return value
    if lenient and isinstance(value, numbers.Real) and not isinstance(value, bool):
        return str(value)
    if lenient and isinstance(value, (list, tuple)) and len(value) == 1:
        return as_text(value[0], name, lenient=True)
    return error_verdict(f"{name} is {type(value).__name__}, expected str")


# ----------------------------------------------------------------------------- verification


def _prepare(
    preds: Sequence[Any],
    refs: Sequence[Any],
    questions: Sequence[Any] | None,
    max_item_chars: int | None = None,
    label_hint: str = "",
) -> tuple[list[Verdict | None], list[int], list[tuple[str, str]], list[str | None]]:
    if len(preds) != len(refs):
        raise ValueError(f"got {len(preds)} responses but {len(refs)} references")
    check_labels(refs, label_hint or "check which dataset field the trainer reads the references from")
    if questions is not None and len(questions) != len(preds):
        raise ValueError(f"got {len(preds)} responses but {len(questions)} questions")
    out: list[Verdict | None] = [None] * len(preds)
    index: list[int] = []
    pairs: list[tuple[str, str]] = []
    qs: list[str | None] = []
    for i, (pred, ref) in enumerate(zip(preds, refs, strict=True)):
        pred_text = as_text(pred, "response")
        ref_text = as_text(ref, "reference", lenient=True)
        if isinstance(pred_text, Verdict):
            out[i] = pred_text
            continue
        if isinstance(ref_text, Verdict):
            out[i] = ref_text
            continue
        question = questions[i] if questions is not None else None
        question = question if isinstance(question, str) and question else None
        if max_item_chars is not None:
            size = len(pred_text) + len(ref_text) + len(question or "")
            if size > max_item_chars:
                out[i] = error_verdict(f"item has {size} characters, over the limit of {max_item_chars}")
                continue
        index.append(i)
        pairs.append((pred_text, ref_text))
        qs.append(question)
    return out, index, pairs, qs


def _merge(out: list[Verdict | None], index: list[int], verdicts: Sequence[Verdict]) -> list[Verdict]:
    if len(verdicts) != len(index):
        raise BackendError(f"the verifier answered {len(verdicts)} verdicts for {len(index)} pairs")
    for i, verdict in zip(index, verdicts, strict=True):
        out[i] = verdict
    return [v if v is not None else error_verdict("internal: item not graded") for v in out]


def verify_many(
    preds: Sequence[Any],
    refs: Sequence[Any],
    questions: Sequence[Any] | None = None,
    *,
    server: str | None = None,
    label_hint: str = "",
) -> list[Verdict]:
    """One verdict per (response, reference) pair, in order; bad items get their own ERROR verdict.

    A batch whose references are all missing raises ``MissingLabelsError`` (``label_hint`` says
    where the trainer reads them).
    """
    out, index, pairs, qs = _prepare(preds, refs, questions, label_hint=label_hint)
    if not pairs:
        return _merge(out, index, [])
    return _merge(out, index, process_backend(server).verify_batch(pairs, qs))


async def averify_many(
    preds: Sequence[Any],
    refs: Sequence[Any],
    questions: Sequence[Any] | None = None,
    *,
    server: str | None = None,
    engine: VerifyFn | None = None,
    max_item_chars: int | None = None,
    label_hint: str = "",
) -> list[Verdict]:
    """:func:`verify_many` for an event loop: never blocks the loop.

    ``engine``, when given, grades the clean pairs instead of this process's backend (the HTTP
    routes pass the server's own engine); its call-level errors propagate. An item longer than
    ``max_item_chars`` (all its text together) gets its own ERROR verdict.
    """
    out, index, pairs, qs = _prepare(preds, refs, questions, max_item_chars, label_hint)
    if not pairs:
        return _merge(out, index, [])
    grade = engine if engine is not None else process_backend(server).averify_batch
    return _merge(out, index, await grade(pairs, qs))
