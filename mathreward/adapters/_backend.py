"""Where an adapter's work runs: in this process, or through a ``mathreward serve`` server.

Selection, per call: a ``server="host:port"`` keyword wins, then the ``MATHREWARD_SERVER``
environment variable; with neither, the work runs in this process (``verifier.verify`` /
``verify_batch``, and for step scores a PRM loaded from ``prm_model=`` or ``MATHREWARD_PRM_MODEL``).

Process safety: trainers pickle the adapters to Ray workers and fork data-loader processes. Nothing
here is created at import. gRPC channels, asyncio clients and PRM models are created on first use
and kept per process: every lookup checks ``os.getpid()``, and a process that finds state made by
its parent (after a fork) drops it and builds its own. Async clients are also kept per event loop,
since a grpc.aio channel belongs to the loop that made it. The in-process verifier's sandbox pool
is keyed by pid the same way (``verifier.sandbox``).

Errors: a bad item (a missing or non-text reference, say) gets its own ``ERROR`` verdict and the
rest of the batch is answered; a server that cannot be reached raises :class:`RewardBackendError`,
because silently turning an outage into "incorrect" rewards would train the policy on noise.
"""

from __future__ import annotations

import asyncio
import numbers
import os
import threading
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mathreward.adapters._settings import check_labels
from verifier.verdict import Method, Status, Verdict

if TYPE_CHECKING:
    from prm import ProcessRewardModel, StepScores

__all__ = [
    "ENV_PRM_MODEL",
    "ENV_SERVER",
    "ENV_TOKEN",
    "RewardBackendError",
    "StepResult",
    "VerifyFn",
    "averify_many",
    "error_verdict",
    "resolve_prm_model",
    "resolve_server",
    "score_steps_many",
    "verify_many",
]

ENV_SERVER = "MATHREWARD_SERVER"  # "host:port" of a mathreward server; unset means in process
ENV_TOKEN = "MATHREWARD_TOKEN"  # bearer token for a server started with auth
ENV_PRM_MODEL = "MATHREWARD_PRM_MODEL"  # a local PRM directory for step rewards without a server


# an engine that grades clean (response, reference) pairs off the event loop, e.g. the server's own
# VerifyEngine when the HTTP routes run inside ``mathreward serve``
VerifyFn = Callable[[list[tuple[str, str]], list[str | None]], Awaitable[list[Verdict]]]


class RewardBackendError(RuntimeError):
    """The reward could not be computed for the whole call (the server is unreachable, say)."""


def resolve_server(server: str | None = None) -> str | None:
    """The server address to use: the argument, else ``MATHREWARD_SERVER``, else None (in process)."""
    if server:
        return server
    return os.environ.get(ENV_SERVER) or None


def resolve_prm_model(path: str | None = None) -> str | None:
    """The local PRM directory to use: the argument, else ``MATHREWARD_PRM_MODEL``, else None."""
    if path:
        return path
    return os.environ.get(ENV_PRM_MODEL) or None


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


# ----------------------------------------------------------------------------- per-process state


class _ProcessState:
    """Clients and models owned by one process; replaced wholesale when the pid changes."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.clients: dict[str, Any] = {}  # "target|token" -> mathreward.Client
        # event loop -> {"target|token" -> mathreward.AsyncClient}
        self.async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = (
            weakref.WeakKeyDictionary()
        )
        self.prm_models: dict[str, ProcessRewardModel] = {}  # path -> loaded model


_state_box: list[_ProcessState] = []  # holds at most one state; empty until first use
_state_guard = threading.Lock()
# States a forked child inherited from its parents, kept alive on purpose and never used: dropping
# them would run the destructors of the parent's gRPC channels inside the child, which crashes it.
_inherited: list[_ProcessState] = []


def _reset_after_fork() -> None:
    # a lock held by another thread at fork time would stay held forever in the child
    global _state_guard
    _state_guard = threading.Lock()
    _inherited.extend(_state_box)
    _state_box.clear()


os.register_at_fork(after_in_child=_reset_after_fork)


def _state() -> _ProcessState:
    pid = os.getpid()
    if _state_box and _state_box[0].pid == pid:
        return _state_box[0]
    with _state_guard:
        if not _state_box or _state_box[0].pid != pid:
            _inherited.extend(_state_box)
            _state_box[:] = [_ProcessState()]
        return _state_box[0]


def process_clients_pid() -> int | None:
    """The pid that owns the current client state (None before first use); for tests."""
    return _state_box[0].pid if _state_box else None


def _client_kwargs() -> dict[str, Any]:
    token = os.environ.get(ENV_TOKEN)
    return {"token": token} if token else {}


def sync_client(target: str) -> Any:
    """This process's ``mathreward.Client`` for ``target`` (and the current token), made on first use."""
    kwargs = _client_kwargs()
    key = f"{target}|{kwargs.get('token', '')}"
    state = _state()
    client = state.clients.get(key)
    if client is None:
        with state.lock:
            client = state.clients.get(key)
            if client is None:
                from mathreward.client import Client

                client = Client(target, **kwargs)
                state.clients[key] = client
    return client


def async_client(target: str) -> Any:
    """This process's and this event loop's ``mathreward.AsyncClient`` for ``target`` (and token)."""
    kwargs = _client_kwargs()
    key = f"{target}|{kwargs.get('token', '')}"
    loop = asyncio.get_running_loop()
    state = _state()
    with state.lock:
        per_loop = state.async_clients.setdefault(loop, {})
        client = per_loop.get(key)
        if client is None:
            from mathreward.client import AsyncClient

            client = AsyncClient(target, **kwargs)
            per_loop[key] = client
    return client


def local_prm(path: str) -> ProcessRewardModel:
    """This process's PRM loaded from ``path`` (loaded once per process)."""
    state = _state()
    with state.lock:
        model = state.prm_models.get(path)
        if model is None:
            from prm import ProcessRewardModel

            model = ProcessRewardModel.from_pretrained(path)
            state.prm_models[path] = model
    return model


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
        raise RewardBackendError(f"the verifier answered {len(verdicts)} verdicts for {len(index)} pairs")
    for i, verdict in zip(index, verdicts, strict=True):
        out[i] = verdict
    return [v if v is not None else error_verdict("internal: item not graded") for v in out]


def _verify_in_process(pairs: list[tuple[str, str]], questions: list[str | None]) -> list[Verdict]:
    from verifier import verify, verify_batch

    if len(pairs) == 1:  # one pair: the cheap exact checks run here, no pool round trip
        return [verify(pairs[0][0], pairs[0][1], question=questions[0])]
    return verify_batch(pairs, questions=questions)


def _service_error(target: str, exc: BaseException) -> RewardBackendError:
    return RewardBackendError(f"mathreward server {target} failed: {type(exc).__name__}: {exc}")


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
    target = resolve_server(server)
    if target is None:
        return _merge(out, index, _verify_in_process(pairs, qs))
    try:
        verdicts = sync_client(target).verify_batch(pairs, questions=qs)
    except Exception as exc:  # the client's own errors (grpc.RpcError and friends)
        raise _service_error(target, exc) from exc
    return _merge(out, index, verdicts)


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

    ``engine``, when given, grades the clean pairs instead of a server or this process (the HTTP
    routes pass the server's own engine); its call-level errors propagate. An item longer than
    ``max_item_chars`` (all its text together) gets its own ERROR verdict.
    """
    out, index, pairs, qs = _prepare(preds, refs, questions, max_item_chars, label_hint)
    if not pairs:
        return _merge(out, index, [])
    if engine is not None:
        return _merge(out, index, await engine(pairs, qs))
    target = resolve_server(server)
    if target is None:
        return _merge(out, index, await asyncio.to_thread(_verify_in_process, pairs, qs))
    try:
        verdicts = await async_client(target).verify_batch(pairs, questions=qs)
    except Exception as exc:
        raise _service_error(target, exc) from exc
    return _merge(out, index, verdicts)


# ----------------------------------------------------------------------------- step scores


@dataclass(frozen=True)
class StepResult:
    """The PRM's answer for one solution: its step scores, or why there are none."""

    scores: StepScores | None  # None when the item could not be scored
    error: str = ""  # why not, when scores is None

    def aggregate(self, how: str) -> float | None:
        return None if self.scores is None else float(self.scores.aggregate(how))  # type: ignore[arg-type]


def _score_local(model: ProcessRewardModel, items: list[tuple[str, list[str]]]) -> list[StepResult]:
    from prm import PRMError

    try:
        return [StepResult(s) for s in model.score_batch(items)]
    except PRMError:
        pass  # one bad item fails the batch call: score one by one to find it and keep the rest
    results: list[StepResult] = []
    for question, steps in items:
        try:
            results.append(StepResult(model.score(question, steps)))
        except PRMError as exc:
            results.append(StepResult(None, f"{type(exc).__name__}: {exc}"))
    return results


def _score_remote(target: str, items: list[tuple[str, list[str]]]) -> list[StepResult]:
    from mathreward.client import ItemError

    try:
        results = sync_client(target).score_steps_batch(items)
    except Exception as exc:  # the client's own errors (grpc.RpcError and friends)
        raise _service_error(target, exc) from exc
    return [StepResult(None, str(r)) if isinstance(r, ItemError) else StepResult(r) for r in results]


def score_steps_many(
    items: Sequence[tuple[str, Sequence[str]]],
    *,
    server: str | None = None,
    prm_model: str | None = None,
) -> list[StepResult]:
    """Step scores for each (question, steps), in order; an item with no steps gets an error result.

    Through the server when one is configured, else with a local PRM (``prm_model`` or
    ``MATHREWARD_PRM_MODEL``); with neither, raises :class:`RewardBackendError`.
    """
    out: list[StepResult | None] = [None] * len(items)
    todo_index: list[int] = []
    todo: list[tuple[str, list[str]]] = []
    for i, (question, steps) in enumerate(items):
        clean = [s for s in steps if isinstance(s, str) and s.strip()]
        if not clean:
            out[i] = StepResult(None, "the solution has no steps")
            continue
        todo_index.append(i)
        todo.append((question if isinstance(question, str) else "", clean))
    if todo:
        target = resolve_server(server)
        if target is not None:
            results = _score_remote(target, todo)
        else:
            path = resolve_prm_model(prm_model)
            if path is None:
                raise RewardBackendError(
                    f"step rewards need a PRM: pass server='host:port' (or set {ENV_SERVER}) "
                    f"or prm_model=PATH (or set {ENV_PRM_MODEL})"
                )
            results = _score_local(local_prm(path), todo)
        for i, result in zip(todo_index, results, strict=True):
            out[i] = result
    return [r if r is not None else StepResult(None, "internal: item not scored") for r in out]
