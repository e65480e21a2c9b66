"""The judge client: the registry of clients, the cache, the breaker, and ``second_opinion(_batch)``."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from verifier.judge.backends import (
    ChatBackend,
    JudgeNotReady,
    JudgeUnavailable,
    OpenAIChatBackend,
    TransformersChatBackend,
    TransientJudgeError,
)
from verifier.judge.config import JudgeConfig
from verifier.judge.policy import (
    EQUIVALENT,
    build_messages,
    consult_refusal,
    new_nonce,
    parse_label,
)
from verifier.verdict import JudgeInfo, Method, Status, Verdict

if TYPE_CHECKING:  # annotations only: the verifier's config holds a JudgeConfig, not the reverse
    from verifier.config import VerifyConfig

__all__ = [
    "CircuitBreaker",
    "JudgeClient",
    "close_judges",
    "get_client",
    "second_opinion",
    "second_opinion_batch",
    "should_consult",
]

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# cost and failure controls


class LRUCache:
    """A thread-safe least-recently-used map of ``key -> label``."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._data: OrderedDict[tuple[str, str, str], str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str]) -> str | None:
        with self._lock:
            label = self._data.get(key)
            if label is not None:
                self._data.move_to_end(key)
            return label

    def put(self, key: tuple[str, str, str], label: str) -> None:
        with self._lock:
            self._data[key] = label
            self._data.move_to_end(key)
            while len(self._data) > self._capacity:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)


class CircuitBreaker:
    """Closed until ``threshold`` consecutive failures; then open (every call refused) for
    ``cooldown_s``; then half-open: one trial call, whose success closes it and failure re-opens it."""

    def __init__(
        self, threshold: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._threshold = threshold
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            if self._probing or self._clock() - self._opened_at >= self._cooldown_s:
                return "half_open"
            return "open"

    def allow(self) -> bool:
        """May a call go out now? In half-open state only one caller gets True (the trial call)."""
        with self._lock:
            if self._opened_at is None:
                return True
            if not self._probing and self._clock() - self._opened_at >= self._cooldown_s:
                self._probing = True
                return True
            return False

    def release_trial(self) -> None:
        """Neither success nor failure (e.g. the model is still loading): let another trial call go."""
        with self._lock:
            self._probing = False

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probing = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._probing or (self._opened_at is None and self._failures >= self._threshold):
                logger.warning("judge circuit opened after %d consecutive failures", self._failures)
                self._opened_at = self._clock()
                self._probing = False


def _norm(text: str | None) -> str:
    return " ".join((text or "").split())


def question_hash(question: str | None) -> str | None:
    """sha256 of the whitespace-normalised question (the audit log stores this, not the text)."""
    if question is None:
        return None
    return hashlib.sha256(_norm(question).encode("utf-8")).hexdigest()


class JudgeClient:
    """One judge: its backend plus the cache, the concurrency limit and the circuit breaker.

    :meth:`ask` never raises and never takes longer than ``config.timeout_s`` (plus at most one
    read of ``request_timeout_s`` when a server trickles its reply).
    """

    def __init__(self, config: JudgeConfig, backend: ChatBackend | None = None) -> None:
        self.config = config
        self._backend = backend
        self._backend_error: str | None = None
        self._backend_lock = threading.Lock()
        self.cache = LRUCache(config.cache_size)
        self.breaker = CircuitBreaker(config.breaker_threshold, config.breaker_cooldown_s)
        self._slots = threading.BoundedSemaphore(config.max_concurrency)
        self._audit_lock = threading.Lock()
        self._calls_lock = threading.Lock()
        self.calls = 0  # requests sent to the backend (attempts, retries included)

    def _get_backend(self) -> ChatBackend:
        with self._backend_lock:
            if self._backend is None and self._backend_error is None:
                try:
                    if self.config.backend == "openai":
                        self._backend = OpenAIChatBackend(self.config)
                    else:
                        self._backend = TransformersChatBackend(self.config)
                except JudgeUnavailable as exc:
                    self._backend_error = str(exc)
            if self._backend is None:
                raise JudgeUnavailable(self._backend_error or "no backend")
            return self._backend

    def _unavailable(self, detail: str) -> JudgeInfo:
        return JudgeInfo(model=self.config.model_name, label=None, available=False, detail=detail)

    def ask(self, answer: str, reference: str, question: str | None) -> JudgeInfo:
        """The judge's label for one pair, from the cache when known; "unavailable" on any failure."""
        key = (_norm(answer), _norm(reference), _norm(question))
        cached = self.cache.get(key)
        if cached is not None:
            return JudgeInfo(model=self.config.model_name, label=cached, available=True, detail="cached")
        deadline = time.monotonic() + self.config.timeout_s
        try:
            messages = build_messages(
                answer,
                reference,
                question,
                nonce=new_nonce(),
                max_question_chars=self.config.max_question_chars,
            )
        except ValueError as exc:  # an input carries the fence code: refuse, the judge is not at fault
            return self._unavailable(f"refused: {exc}")
        if not self._slots.acquire(timeout=self.config.timeout_s):
            return self._unavailable(f"busy: {self.config.max_concurrency} calls in flight")
        try:
            if not self.breaker.allow():
                return self._unavailable("circuit open after repeated failures")
            try:
                reply = self._call_with_retries(messages, deadline)
            except JudgeNotReady as exc:  # a model still loading is not a failing judge
                self.breaker.release_trial()
                return self._unavailable(str(exc))
            except JudgeUnavailable as exc:
                self.breaker.record_failure()
                logger.debug("judge unavailable: %s", exc)
                return self._unavailable(str(exc))
            except Exception as exc:  # a bug in a backend must not fail verify(): report it in the verdict
                self.breaker.record_failure()
                logger.warning("judge backend raised %s", exc, exc_info=True)
                return self._unavailable(f"judge error: {type(exc).__name__}: {exc}")
            label = parse_label(reply)
            if label is None:
                self.breaker.record_failure()
                return self._unavailable(f"garbage reply: {reply[:80]!r}")
            self.breaker.record_success()
            self.cache.put(key, label)
            return JudgeInfo(model=self.config.model_name, label=label, available=True)
        finally:
            self._slots.release()

    def _call_with_retries(self, messages: list[dict[str, str]], deadline: float) -> str:
        backend = self._get_backend()
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransientJudgeError(f"no reply within {self.config.timeout_s:.3g}s")
            with self._calls_lock:
                self.calls += 1
            try:
                return backend.complete(messages, timeout_s=remaining)
            except TransientJudgeError as exc:
                if attempt >= self.config.max_retries:
                    raise type(exc)(f"{exc} (after {attempt + 1} attempts)") from exc
                wait = self.config.backoff_s * (2**attempt) * (1 + 0.25 * random.random())
                if time.monotonic() + wait >= deadline:
                    raise type(exc)(f"{exc} (no time left to retry)") from exc
                time.sleep(wait)
                attempt += 1

    def audit(self, verdict: Verdict, label: str, question: str | None) -> None:
        """Append one overturn to ``config.audit_log`` (a failure to write is logged, never raised)."""
        if self.config.audit_log is None:
            return
        record = {
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "model": self.config.model_name,
            "label": label,
            "pred_answer": verdict.pred_answer,
            "ref_answer": verdict.ref_answer,
            "question_sha256": question_hash(question),
            "rule_status": verdict.status.value,
            "rule_method": verdict.method.value,
            "rule_reason": verdict.reason,
        }
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._audit_lock:
            try:
                with open(self.config.audit_log, "a", encoding="utf-8") as fh:
                    fh.write(line)
            except OSError as exc:
                logger.error("cannot write judge audit log %s: %s", self.config.audit_log, exc)

    def close(self) -> None:
        with self._backend_lock:
            if self._backend is not None:
                self._backend.close()
                self._backend = None


# one client per config per process (connection pool, cache, breaker): not configuration, a pool
_CLIENTS: dict[JudgeConfig, JudgeClient] = {}
_CLIENTS_LOCK = threading.Lock()


def get_client(config: JudgeConfig) -> JudgeClient:
    """The process's client for ``config`` (created on first use)."""
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(config)
        if client is None:
            client = _CLIENTS[config] = JudgeClient(config)
        return client


def close_judges() -> None:
    """Close and forget every client of this process (their caches and breakers go with them)."""
    with _CLIENTS_LOCK:
        clients = list(_CLIENTS.values())
        _CLIENTS.clear()
    for client in clients:
        client.close()


# ---------------------------------------------------------------------------------------------
# the hook


def _judge_config(config: VerifyConfig | JudgeConfig | None) -> JudgeConfig | None:
    if isinstance(config, JudgeConfig):
        return config
    if config is None:
        return None
    return config.judge


def should_consult(
    verdict: Verdict, config: VerifyConfig | JudgeConfig | None, question: str | None = None
) -> bool:
    """Would :func:`second_opinion` ask a judge about ``verdict`` (cache aside)?"""
    jc = _judge_config(config)
    if jc is None:
        return False
    return consult_refusal(verdict, max_answer_chars=jc.max_answer_chars, question=question) is None


def _apply(
    verdict: Verdict, info: JudgeInfo, question: str | None, client: JudgeClient, spent: float
) -> Verdict:
    elapsed = verdict.elapsed_s + spent
    if (
        info.available
        and info.label == EQUIVALENT
        # the gate is asked again before any overturn, whatever any judge says
        and consult_refusal(verdict, max_answer_chars=client.config.max_answer_chars, question=question)
        is None
    ):
        client.audit(verdict, EQUIVALENT, question)
        return replace(
            verdict,
            status=Status.CORRECT,
            method=Method.JUDGE,
            reason=f"judge {info.model} found the answers equivalent (rules: {verdict.reason})",
            elapsed_s=elapsed,
            judge=info,
        )
    return replace(verdict, judge=info, elapsed_s=elapsed)


def second_opinion(
    verdict: Verdict, *, question: str | None = None, config: VerifyConfig | JudgeConfig | None = None
) -> Verdict:
    """``verdict`` unchanged, or revisited by the judge of ``config`` when the policy allows.

    Never raises for a judge failure and never takes longer than ``timeout_s`` of the judge config.
    """
    jc = _judge_config(config)
    if (
        jc is None
        or consult_refusal(verdict, max_answer_chars=jc.max_answer_chars, question=question) is not None
    ):
        return verdict
    assert verdict.pred_answer is not None and verdict.ref_answer is not None  # checked by the policy
    start = time.monotonic()
    client = get_client(jc)
    info = client.ask(verdict.pred_answer, verdict.ref_answer, question)
    return _apply(verdict, info, question, client, time.monotonic() - start)


def second_opinion_batch(
    verdicts: Sequence[Verdict],
    questions: Sequence[str | None] | None = None,
    config: VerifyConfig | JudgeConfig | None = None,
) -> list[Verdict]:
    """:func:`second_opinion` over a batch: identical pairs asked once, up to ``max_concurrency`` at once.

    Returns one verdict per input, in input order. ``questions`` is None or as long as ``verdicts``.
    """
    if questions is None:
        questions = [None] * len(verdicts)
    if len(questions) != len(verdicts):
        raise ValueError(f"{len(verdicts)} verdicts but {len(questions)} questions")
    jc = _judge_config(config)
    out = list(verdicts)
    if jc is None:
        return out
    todo: dict[tuple[str, str, str], list[int]] = {}
    for i, v in enumerate(verdicts):
        if consult_refusal(v, max_answer_chars=jc.max_answer_chars, question=questions[i]) is None:
            key = (v.pred_answer or "", v.ref_answer or "", _norm(questions[i]))
            todo.setdefault(key, []).append(i)
    if not todo:
        return out
    client = get_client(jc)
    start = time.monotonic()

    def ask(indices: list[int]) -> tuple[list[int], JudgeInfo, float]:
        v = verdicts[indices[0]]
        t0 = time.monotonic()
        info = client.ask(v.pred_answer or "", v.ref_answer or "", questions[indices[0]])
        return indices, info, time.monotonic() - t0

    workers = min(jc.max_concurrency, len(todo))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="judge") as pool:
        for indices, info, spent in pool.map(ask, todo.values()):
            for i in indices:
                out[i] = _apply(verdicts[i], info, questions[i], client, spent)
    logger.debug("judged %d distinct pairs in %.3fs", len(todo), time.monotonic() - start)
    return out
