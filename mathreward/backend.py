"""Where the work runs: in this process, or on ``mathreward serve`` replicas; one seam for all callers.

    from mathreward.backend import choose_backend

    backend = choose_backend()                      # MATHREWARD_SERVER set: remote; else in process
    verdicts = backend.verify_batch([(response, reference), ...], questions)
    steps = backend.score_steps_batch([(question, response_text_or_steps), ...], split_mode="auto")

Choice, in order: an explicit ``server`` (an address, a list of replicas, or a :class:`ServerSpec`), then
the ``MATHREWARD_SERVER`` environment variable; with neither the work runs in this process
(:func:`verifier.verify_batch` in the sandbox pool, a PRM loaded once from ``prm_model`` or
``MATHREWARD_PRM_MODEL``). A server is reached with the token and TLS settings of :class:`ServerSpec`,
which reads ``MATHREWARD_TOKEN`` and ``MATHREWARD_TLS_CA`` / ``_CERT`` / ``_KEY`` / ``_SERVER_NAME``
when they are not given.

Both backends answer the same methods with the same types: a :class:`~verifier.Verdict` per pair, and
a :class:`StepResult` per solution (its :class:`~prm.StepScores`, or why there are none). A bad item
gets its own result and the rest of the batch is answered; a server that cannot be reached raises
:class:`BackendError` for the whole call (an outage must not read as "incorrect").

Process safety: nothing is made at import; clients and models are made on first use.
:func:`process_backend` keeps one backend per process (a forked child builds its own) and the remote
backend one asyncio client per event loop, since a grpc.aio channel belongs to the loop that made it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mathreward.client import AsyncClient, Client
    from prm import ProcessRewardModel, StepScores
    from verifier import Verdict, VerifyConfig

__all__ = [
    "ENV_PRM_MODEL",
    "ENV_SERVER",
    "ENV_TLS_CA",
    "ENV_TLS_CERT",
    "ENV_TLS_KEY",
    "ENV_TLS_SERVER_NAME",
    "ENV_TOKEN",
    "PRM_SERVICE",
    "Backend",
    "BackendError",
    "LocalBackend",
    "RemoteBackend",
    "ServerSpec",
    "StepItem",
    "StepResult",
    "choose_backend",
    "process_backend",
]

ENV_SERVER = "MATHREWARD_SERVER"  # address(es) of a mathreward server; unset: work in this process
ENV_TOKEN = "MATHREWARD_TOKEN"  # bearer token for a server started with auth
ENV_TLS_CA = "MATHREWARD_TLS_CA"  # PEM file of the CA that signed the server's certificate (turns TLS on)
ENV_TLS_CERT = "MATHREWARD_TLS_CERT"  # client certificate chain, PEM file (mutual TLS, with _KEY)
ENV_TLS_KEY = "MATHREWARD_TLS_KEY"  # client private key, PEM file (mutual TLS, with _CERT)
ENV_TLS_SERVER_NAME = "MATHREWARD_TLS_SERVER_NAME"  # the name to check in the server's certificate
ENV_PRM_MODEL = "MATHREWARD_PRM_MODEL"  # a local PRM folder for step scores without a server

PRM_SERVICE = "mathreward.v1.ProcessRewardService"  # its health reads SERVING once the weights are loaded

# one solution to score: (question, steps) or (question, whole text cut into steps by a split mode)
StepItem = tuple[str, Sequence[str] | str]


class BackendError(RuntimeError):
    """The work could not be done for the whole call (the server is unreachable, no PRM is configured)."""


@dataclass(frozen=True)
class StepResult:
    """The PRM's answer for one solution: its step scores, or why there are none."""

    scores: StepScores | None  # None when the item could not be scored
    error: str = ""  # why not, when scores is None

    def aggregate(self, how: str) -> float | None:
        """The solution's score by ``how`` (min, prod, last, mean); None when it was not scored."""
        return None if self.scores is None else float(self.scores.aggregate(how))  # type: ignore[arg-type]


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


@dataclass(frozen=True)
class ServerSpec:
    """How to reach a server: its address(es), token and TLS settings (the options of :class:`Client`).

    ``target`` is ``host:port``, several replicas ``host1:port,host2:port`` (called round-robin), or
    any gRPC target (``dns:///name:port`` for a name that resolves to several addresses).
    """

    target: str
    token: str | None = dataclasses.field(default=None, repr=False)  # sent as `authorization: Bearer`
    tls: bool = False  # TLS with the system's roots (root_certs implies TLS)
    root_certs: Path | None = None  # PEM file of a private CA
    client_cert: Path | None = None  # mutual TLS: the client's certificate chain (PEM)
    client_key: Path | None = None  # mutual TLS: the client's private key (PEM)
    server_name: str | None = None  # overrides the name checked in the server's certificate

    @classmethod
    def resolve(
        cls,
        server: str | Sequence[str] | ServerSpec | None = None,
        *,
        token: str | None = None,
        tls: bool = False,
        root_certs: str | Path | None = None,
        client_cert: str | Path | None = None,
        client_key: str | Path | None = None,
        server_name: str | None = None,
    ) -> ServerSpec | None:
        """The server to use: ``server``, else ``MATHREWARD_SERVER``; None means in process.

        Each setting not given is read from its environment variable (``MATHREWARD_TOKEN``, ...).
        """
        if isinstance(server, ServerSpec):
            return server
        if server is not None and not isinstance(server, str):
            server = ",".join(server)
        target = server or os.environ.get(ENV_SERVER) or None
        if target is None:
            return None
        return cls(
            target=target,
            token=token or os.environ.get(ENV_TOKEN) or None,
            tls=tls,
            root_certs=Path(root_certs) if root_certs else _env_path(ENV_TLS_CA),
            client_cert=Path(client_cert) if client_cert else _env_path(ENV_TLS_CERT),
            client_key=Path(client_key) if client_key else _env_path(ENV_TLS_KEY),
            server_name=server_name or os.environ.get(ENV_TLS_SERVER_NAME) or None,
        )

    def client_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :class:`mathreward.Client` / :class:`mathreward.AsyncClient`."""
        return {
            "token": self.token,
            "tls": self.tls,
            "root_certs": self.root_certs,
            "client_cert": self.client_cert,
            "client_key": self.client_key,
            "server_name": self.server_name,
        }


class Backend(Protocol):
    """What rescore and the adapters call; :class:`LocalBackend` and :class:`RemoteBackend` implement it."""

    where: str  # "in process", or the server's target

    def verify_batch(
        self, pairs: Sequence[tuple[str, str]], questions: Sequence[str | None] | None = None
    ) -> list[Verdict]:
        """One verdict per (response, reference) pair, in order."""
        ...

    async def averify_batch(
        self, pairs: Sequence[tuple[str, str]], questions: Sequence[str | None] | None = None
    ) -> list[Verdict]:
        """:meth:`verify_batch` for an event loop: never blocks the loop."""
        ...

    def score_steps_batch(self, items: Sequence[StepItem], *, split_mode: str = "auto") -> list[StepResult]:
        """One StepResult per (question, steps-or-text), in order; ``split_mode`` cuts a text."""
        ...

    def split(self, n: int) -> list[Backend]:
        """At most n backends to use at the same time from as many threads, whose total parallelism is
        this one's (``workers=4`` split in two is 2 + 2)."""
        ...

    def close(self) -> None: ...


def _listed(questions: Sequence[str | None] | None) -> list[str | None] | None:
    return None if questions is None else list(questions)


def _refused(exc: BaseException) -> StepResult:
    return StepResult(None, f"{type(exc).__name__}: {exc}")


def _clean_steps(item: StepItem, split_mode: str) -> tuple[str, list[str]] | str:
    """(question, non-blank steps), or why the item has none."""
    question, solution = item
    if isinstance(solution, str):
        from prm import split_steps

        steps = [s for s in split_steps(solution, mode=split_mode) if s.strip()]  # type: ignore[arg-type]
    else:
        steps = [s for s in solution if isinstance(s, str) and s.strip()]
    if not steps:
        return "no steps: the solution is empty"
    return (question if isinstance(question, str) else "", steps)


class _LazyModel:
    """A PRM loaded from its folder on first use, once, whichever thread asks first."""

    def __init__(self, source: str | ProcessRewardModel | None, device: str) -> None:
        self.source = source
        self.device = device
        self.lock = threading.Lock()

    def get(self) -> ProcessRewardModel:
        with self.lock:
            if self.source is None:
                raise BackendError(
                    f"step scores need a PRM: pass prm_model=PATH (or set {ENV_PRM_MODEL}), "
                    f"or a server (or set {ENV_SERVER})"
                )
            if isinstance(self.source, str):
                from prm import ProcessRewardModel

                self.source = ProcessRewardModel.from_pretrained(self.source, device=self.device)
            return self.source


class LocalBackend:
    """The work in this process: :func:`verifier.verify_batch` in its sandbox pool; a PRM loaded on first use.

    ``workers``: verifier processes (None: the pool's default, all cores). ``prm_model``: a PRM folder
    (or a loaded :class:`~prm.ProcessRewardModel`) for step scores; None reads ``MATHREWARD_PRM_MODEL``.
    """

    where = "in process"

    def __init__(
        self,
        config: VerifyConfig | None = None,
        *,
        workers: int | None = None,
        prm_model: str | ProcessRewardModel | None = None,
        device: str = "auto",
    ) -> None:
        from verifier import VerifyConfig

        self.config = config if config is not None else VerifyConfig()
        self.workers = workers
        source = prm_model if prm_model is not None else (os.environ.get(ENV_PRM_MODEL) or None)
        self._prm = _LazyModel(source, device)

    def verify_batch(
        self, pairs: Sequence[tuple[str, str]], questions: Sequence[str | None] | None = None
    ) -> list[Verdict]:
        from verifier import verify, verify_batch

        if not pairs:
            return []
        if len(pairs) == 1 and self.workers is None:  # one pair: the cheap checks run here, no pool trip
            question = questions[0] if questions is not None else None
            return [verify(pairs[0][0], pairs[0][1], question=question, config=self.config)]
        return list(verify_batch(pairs, questions=questions, config=self.config, workers=self.workers))

    async def averify_batch(
        self, pairs: Sequence[tuple[str, str]], questions: Sequence[str | None] | None = None
    ) -> list[Verdict]:
        return await asyncio.to_thread(self.verify_batch, pairs, questions)

    def prm(self) -> ProcessRewardModel:
        """The PRM, loaded on the first call (raises :class:`BackendError` when none is configured)."""
        return self._prm.get()

    def score_steps_batch(self, items: Sequence[StepItem], *, split_mode: str = "auto") -> list[StepResult]:
        import prm

        out: list[StepResult | None] = [None] * len(items)
        index: list[int] = []
        prepared: list[tuple[str, list[str]]] = []
        for i, item in enumerate(items):
            clean = _clean_steps(item, split_mode)
            if isinstance(clean, str):
                out[i] = StepResult(None, clean)
                continue
            index.append(i)
            prepared.append(clean)
        # a bad item (too long, ...) takes its own error's place; the rest stay one batched call
        results: list[Any] = self.prm().score_batch(prepared, return_errors=True) if prepared else []
        for i, r in zip(index, results, strict=True):
            out[i] = _refused(r) if isinstance(r, prm.PRMError) else StepResult(r)
        return [r if r is not None else StepResult(None, "internal: item not scored") for r in out]

    def split(self, n: int) -> list[Backend]:
        if self.workers is None:  # all cores: the pool itself bounds the calls in flight together
            return [self] * n
        n = max(1, min(n, self.workers))
        shares = [self.workers // n + (1 if i < self.workers % n else 0) for i in range(n)]
        parts: list[Backend] = []
        for k in shares:
            part = LocalBackend(self.config, workers=k)
            part._prm = self._prm  # one model, loaded once
            parts.append(part)
        return parts

    def close(self) -> None:
        return None


class RemoteBackend:
    """The work on a running ``mathreward serve`` (or several replicas); its own config, judge included,
    applies. Clients are made on first use: one blocking client, and one asyncio client per event loop."""

    def __init__(self, spec: ServerSpec, **client_options: Any) -> None:
        self.spec = spec
        self.where = spec.target
        # a batch job or a trainer rides out a restart: its calls wait (within their deadline) for a replica
        self._options = {**spec.client_kwargs(), "wait_for_ready": True, **client_options}
        self._lock = threading.Lock()
        self._client: Client | None = None
        self._aclients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncClient] = (
            weakref.WeakKeyDictionary()
        )

    def client(self) -> Client:
        with self._lock:
            if self._client is None:
                from mathreward.client import Client

                self._client = Client(self.spec.target, **self._options)
            return self._client

    def async_client(self) -> AsyncClient:
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._aclients.get(loop)
            if client is None:
                from mathreward.client import AsyncClient

                client = self._aclients[loop] = AsyncClient(self.spec.target, **self._options)
            return client

    @contextlib.contextmanager
    def _calling(self) -> Iterator[None]:
        """The client's errors (unreachable, refused, deadline) as a BackendError for the whole call."""
        from mathreward.client import ClientError

        try:
            yield
        except ClientError as exc:
            raise BackendError(
                f"mathreward server {self.spec.target} failed: {type(exc).__name__}: {exc}"
            ) from exc

    def wait_ready(self, service: str = "", *, timeout: float = 30.0) -> None:
        """Block until ``service`` ("" the server, :data:`PRM_SERVICE` its PRM) reads SERVING."""
        try:
            self.client().wait_ready(service, timeout=timeout)
        except Exception as exc:
            if not service:
                raise BackendError(f"no mathreward server answers at {self.spec.target}: {exc}") from exc
            raise BackendError(
                f"{service} of the server at {self.spec.target} is not SERVING after {timeout:g} s: {exc}"
            ) from exc

    def verify_batch(
        self, pairs: Sequence[tuple[str, str]], questions: Sequence[str | None] | None = None
    ) -> list[Verdict]:
        with self._calling():
            return self.client().verify_batch(list(pairs), questions=_listed(questions)) if pairs else []

    async def averify_batch(
        self, pairs: Sequence[tuple[str, str]], questions: Sequence[str | None] | None = None
    ) -> list[Verdict]:
        with self._calling():
            client = self.async_client()
            return await client.verify_batch(list(pairs), questions=_listed(questions)) if pairs else []

    def score_steps_batch(self, items: Sequence[StepItem], *, split_mode: str = "auto") -> list[StepResult]:
        out: list[StepResult | None] = [None] * len(items)
        index: list[int] = []
        todo: list[StepItem] = []
        for i, (question, solution) in enumerate(items):
            if not isinstance(solution, str):  # a text is cut by the server, with the same split modes
                clean = _clean_steps((question, solution), split_mode)
                if isinstance(clean, str):
                    out[i] = StepResult(None, clean)
                    continue
                question, solution = clean
            index.append(i)
            todo.append((question if isinstance(question, str) else "", solution))
        if todo:
            with self._calling():
                results = self.client().score_steps_batch(todo, split_mode=split_mode)
            for i, r in zip(index, results, strict=True):
                out[i] = StepResult(r) if not isinstance(r, Exception) else _refused(r)
        return [r if r is not None else StepResult(None, "internal: item not scored") for r in out]

    def split(self, n: int) -> list[Backend]:
        return [self] * n  # the server bounds its own parallelism

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


def choose_backend(
    server: str | Sequence[str] | ServerSpec | None = None,
    *,
    config: VerifyConfig | None = None,
    workers: int | None = None,
    prm_model: str | None = None,
    **client_options: Any,
) -> Backend:
    """A :class:`RemoteBackend` for ``server`` (or ``MATHREWARD_SERVER``), else a :class:`LocalBackend`."""
    spec = ServerSpec.resolve(server)
    if spec is not None:
        return RemoteBackend(spec, **client_options)
    return LocalBackend(config, workers=workers, prm_model=prm_model)


# ----------------------------------------------------------------------------- one per process


class _ProcessBackends:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.backends: dict[tuple[ServerSpec | None, str | None], Backend] = {}


_box: list[_ProcessBackends] = []  # at most one: this process's
# a forked child keeps its parent's backends alive and unused: dropping them would run the destructors
# of the parent's gRPC channels inside the child, which crashes it
_inherited: list[_ProcessBackends] = []
_guard = threading.Lock()


def _after_fork_in_child() -> None:
    global _guard
    _guard = threading.Lock()  # a lock held by another thread at fork time would stay held in the child
    _inherited.extend(_box)
    _box.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def process_backend(
    server: str | Sequence[str] | ServerSpec | None = None, prm_model: str | None = None
) -> Backend:
    """This process's backend for ``server`` (resolved as :func:`choose_backend` does) and ``prm_model``,
    made on first use and kept: trainers call it per batch, from threads, Ray workers and forked loaders."""
    spec = ServerSpec.resolve(server)
    path = None if spec is not None else (prm_model or os.environ.get(ENV_PRM_MODEL) or None)
    key = (spec, path)
    pid = os.getpid()
    with _guard:
        if not _box or _box[0].pid != pid:
            _inherited.extend(_box)
            _box[:] = [_ProcessBackends()]
        state = _box[0]
    with state.lock:
        backend = state.backends.get(key)
        if backend is None:
            backend = RemoteBackend(spec) if spec is not None else LocalBackend(prm_model=path)
            state.backends[key] = backend
        return backend
