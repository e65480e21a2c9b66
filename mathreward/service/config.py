"""Settings of the gRPC service: frozen dataclasses; the ``mathreward serve`` flags take their defaults
from here (:func:`default_of`), so the two cannot drift."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verifier.config import VerifyConfig


@dataclass(frozen=True)
class ServiceLimits:
    """What one request may ask for; anything over a limit is refused before an engine sees it."""

    # largest request or response message, bytes (gRPC itself answers RESOURCE_EXHAUSTED above it)
    max_message_bytes: int = 32 * 1024 * 1024
    # items in one unary request (Verify, ScoreSteps, Score); more is RESOURCE_EXHAUSTED for the call
    max_items: int = 4096
    # characters in one item, all its text fields together; more is RESOURCE_EXHAUSTED for that item only
    max_item_chars: int = 200_000
    # items admitted but not yet answered, per engine, across all calls; a call that would go over is
    # RESOURCE_EXHAUSTED (back off and retry)
    max_queue_depth: int = 16_384
    # the largest per-request VerifyOptions.timeout_s a client may ask for, seconds
    max_item_timeout_s: float = 60.0
    # items of one VerifyStream read and not yet sent back (being verified, or answered and waiting
    # for the client to read); the stream reads no further until one is sent
    max_stream_in_flight: int = 512
    # request bytes held by all calls in flight together, both protocols (a unary request until it is
    # answered, a stream message until its last item is sent, an HTTP body until it is answered); a call
    # that would go over is refused at once: RESOURCE_EXHAUSTED (gRPC), 503 (HTTP)
    max_inflight_bytes: int = 128 * 1024 * 1024

    def __post_init__(self) -> None:
        for name in (
            "max_message_bytes",
            "max_items",
            "max_item_chars",
            "max_queue_depth",
            "max_stream_in_flight",
            "max_inflight_bytes",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"ServiceLimits.{name} must be at least 1, got {getattr(self, name)}")
        if self.max_inflight_bytes < self.max_message_bytes:
            raise ValueError(
                f"ServiceLimits.max_inflight_bytes ({self.max_inflight_bytes}) must be at least "
                f"max_message_bytes ({self.max_message_bytes}), or a largest request could never run"
            )
        if not self.max_item_timeout_s > 0:
            raise ValueError(
                f"ServiceLimits.max_item_timeout_s must be positive, got {self.max_item_timeout_s}"
            )


@dataclass(frozen=True)
class BatcherConfig:
    """The PRM's dynamic batcher: concurrent requests are merged into model batches."""

    # estimated tokens in one model batch (question + steps of every solution in it); a single solution
    # larger than this runs alone
    max_batch_tokens: int = 16_384
    # solutions in one model batch
    max_batch_items: int = 64
    # how long the first solution of a batch waits for company, milliseconds (0: no waiting)
    max_wait_ms: float = 5.0

    def __post_init__(self) -> None:
        if self.max_batch_tokens < 1 or self.max_batch_items < 1 or self.max_wait_ms < 0:
            raise ValueError(f"bad BatcherConfig: {self}")


@dataclass(frozen=True)
class HttpTimeouts:
    """How long the HTTP routes wait on a slow or idle client before closing its connection."""

    # from the first byte of a request to the end of its request line and headers, seconds; past it
    # the connection is closed without an answer (the wait for that first byte is keepalive_s)
    header_s: float = 10.0
    # reading a request's body once its headers are in, seconds; past it: 408 and the connection closed
    body_s: float = 30.0
    # an idle connection (before its first request, or between requests), seconds; past it the
    # connection is closed
    keepalive_s: float = 15.0

    def __post_init__(self) -> None:
        for name in ("header_s", "body_s", "keepalive_s"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"HttpTimeouts.{name} must be positive, got {value}")


@dataclass(frozen=True)
class TLSConfig:
    """Server-side TLS from PEM files; ``client_ca_file`` set: mutual TLS (client certificates required)."""

    cert_file: Path  # the server's certificate chain
    key_file: Path  # its private key
    client_ca_file: Path | None = None  # CA that signs accepted client certificates; None: no client auth


@dataclass(frozen=True)
class ServerConfig:
    """Everything :func:`mathreward.server.build_server` needs."""

    host: str = "127.0.0.1"  # interface to listen on ("0.0.0.0" or "[::]" for all)
    port: int = 50051  # 0 picks a free port (the chosen one is ``MathRewardServer.port``)
    metrics_port: int | None = None  # Prometheus /metrics port; None: no metrics endpoint, 0: a free port
    metrics_host: str | None = None  # interface of the metrics endpoint; None: same as host
    limits: ServiceLimits = field(default_factory=ServiceLimits)
    verify_config: VerifyConfig = field(default_factory=VerifyConfig)
    # sandbox workers verify_batch may use; None: the verifier's default (all cores)
    verify_workers: int | None = None
    # items per verify_batch call the server makes; a cancelled call stops at the next chunk
    verify_chunk_items: int = 64
    # threads that wait on verify_batch calls (the event loop never does)
    verify_threads: int = 8
    prm_model: Path | None = None  # PRM weights directory; None: ProcessRewardService is NOT_SERVING
    prm_format: str = "auto"
    prm_device: str = "auto"
    prm_dtype: str = "auto"
    batcher: BatcherConfig = field(default_factory=BatcherConfig)
    # bearer token every call but health checks must carry (printable ASCII, no spaces); None: no auth
    token: str | None = None
    tls: TLSConfig | None = None  # None: plaintext
    http_timeouts: HttpTimeouts = field(default_factory=HttpTimeouts)  # for ``serve --http-port``
    # on SIGTERM, how long in-flight calls (both protocols) may take to finish, seconds; past it each
    # is cut: gRPC calls end CANCELLED/UNAVAILABLE, HTTP calls get 503, and the process exits
    grace_s: float = 30.0
    # on SIGTERM, how long health reads NOT_SERVING and new calls get a clean UNAVAILABLE before the
    # listener closes (balancers and clients notice and move on), seconds
    drain_delay_s: float = 1.0
    # also serve the HTTP routes (mathreward.http_routes) on this port, sharing limits, auth, budget and
    # engines; None: no HTTP; 0: a free port. With ``tls`` it serves HTTPS with the same certificate
    # (and requires client certificates under mutual TLS)
    http_port: int | None = None

    def __post_init__(self) -> None:
        if self.token is not None:
            problem = token_problem(self.token)
            if problem is not None:
                raise ValueError(problem)
        if self.grace_s < 0 or self.drain_delay_s < 0:
            raise ValueError(
                f"grace_s and drain_delay_s must be >= 0, got {self.grace_s}, {self.drain_delay_s}"
            )


def token_problem(token: str) -> str | None:
    """Why ``token`` cannot be a bearer token (None when it can): empty, or not printable ASCII."""
    if not token.strip():
        return "the bearer token is empty (or only whitespace): refusing to run with auth switched off"
    if not all(33 <= ord(c) < 127 for c in token):
        return "the bearer token must be printable ASCII without spaces (it travels in a header)"
    return None


def default_of(cls: type, name: str) -> Any:
    """The default of field ``name`` of dataclass ``cls`` (what a CLI flag for it defaults to)."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
            raise ValueError(f"{cls.__name__}.{name} has no default")
    raise AttributeError(f"{cls.__name__} has no field {name!r}")
