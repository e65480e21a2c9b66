"""Settings of the gRPC service: frozen dataclasses whose defaults the ``mathreward serve`` flags mirror."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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
    # items of one VerifyStream in flight at once; the stream reads no further until some are answered
    max_stream_in_flight: int = 512

    def __post_init__(self) -> None:
        for name in (
            "max_message_bytes",
            "max_items",
            "max_item_chars",
            "max_queue_depth",
            "max_stream_in_flight",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"ServiceLimits.{name} must be at least 1, got {getattr(self, name)}")
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
    token: str | None = None  # bearer token every call but health checks must carry; None: no auth
    tls: TLSConfig | None = None  # None: plaintext
    grace_s: float = 30.0  # on SIGTERM, how long in-flight calls may take to finish, seconds
    # on SIGTERM, how long health reads NOT_SERVING and new calls get a clean UNAVAILABLE before the
    # listener closes (balancers and clients notice and move on), seconds
    drain_delay_s: float = 1.0
