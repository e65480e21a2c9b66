"""``mathreward serve``: the gRPC server (and, with ``--http-port``, the HTTP routes in the same process)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("mathreward.serve")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from mathreward.service.config import (
        BatcherConfig,
        HttpTimeouts,
        ServerConfig,
        ServiceLimits,
        default_of,
    )
    from prm.formats import FORMATS
    from verifier.config import VerifyConfig
    from verifier.judge import JudgeConfig

    def server(name: str) -> Any:
        return default_of(ServerConfig, name)

    def limit(name: str) -> Any:
        return default_of(ServiceLimits, name)

    p = subparsers.add_parser(
        "serve",
        help="run the gRPC service (verify, step scores, rewards)",
        description="Run the gRPC server: VerifyService, ProcessRewardService, RewardService, health, "
        "reflection. SIGTERM drains it (health NOT_SERVING, in-flight calls finish within --grace, exit 0). "
        "Prints one JSON line to stdout when listening. Every limit and what a client sees past it: "
        "docs/serving/limits.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    net = p.add_argument_group("listening")
    net.add_argument(
        "--host", default=server("host"), help="interface to listen on (0.0.0.0 or [::] for all)"
    )
    net.add_argument("--port", type=int, default=server("port"), help="gRPC port; 0 picks a free one")
    net.add_argument(
        "--metrics-port",
        type=int,
        default=server("metrics_port"),
        help="Prometheus /metrics port (0: a free one)",
    )
    net.add_argument(
        "--metrics-host", default=server("metrics_host"), help="interface for /metrics (default: --host)"
    )
    net.add_argument(
        "--http-port",
        type=int,
        default=server("http_port"),
        help="also serve the HTTP routes on this port (HTTPS with --tls-*; client certs under mutual TLS)",
    )

    eng = p.add_argument_group("engines")
    eng.add_argument(
        "--workers",
        type=int,
        default=server("verify_workers"),
        help="verifier sandbox workers (default: all cores)",
    )
    eng.add_argument(
        "--chunk-items",
        type=int,
        default=server("verify_chunk_items"),
        help="items per verify_batch call (cancellation granularity)",
    )
    eng.add_argument(
        "--timeout",
        type=float,
        default=default_of(VerifyConfig, "timeout_s"),
        help="symbolic time limit per item, seconds",
    )
    eng.add_argument(
        "--memory-mb",
        type=int,
        default=default_of(VerifyConfig, "memory_mb"),
        help="address-space limit per sandbox worker, MiB",
    )
    eng.add_argument(
        "--judge-url", default=None, help="LLM second opinion: an OpenAI-compatible endpoint (e.g. .../v1)"
    )
    eng.add_argument(
        "--judge-model",
        default=default_of(JudgeConfig, "model"),
        help="LLM second opinion: the model name to send",
    )
    eng.add_argument(
        "--judge-api-key-env",
        default=default_of(JudgeConfig, "api_key_env"),
        help="env variable holding the API key",
    )
    eng.add_argument(
        "--judge-timeout",
        type=float,
        default=default_of(JudgeConfig, "timeout_s"),
        help="limit on one second opinion, seconds",
    )
    eng.add_argument(
        "--prm-model",
        type=Path,
        default=server("prm_model"),
        help="PRM weights directory (loaded in the background)",
    )
    eng.add_argument(
        "--prm-format",
        default=server("prm_format"),
        help="auto (what config.json or prm_format.json confirms) | " + " | ".join(sorted(FORMATS)),
    )
    eng.add_argument("--prm-device", default=server("prm_device"), help="cuda, cpu, cuda:1, ...")
    eng.add_argument("--prm-dtype", default=server("prm_dtype"), help="bfloat16, float16, float32")
    eng.add_argument(
        "--max-batch-tokens",
        type=int,
        default=default_of(BatcherConfig, "max_batch_tokens"),
        help="PRM batcher: est. tokens per batch",
    )
    eng.add_argument(
        "--max-batch-items",
        type=int,
        default=default_of(BatcherConfig, "max_batch_items"),
        help="PRM batcher: solutions per batch",
    )
    eng.add_argument(
        "--max-wait-ms",
        type=float,
        default=default_of(BatcherConfig, "max_wait_ms"),
        help="PRM batcher: wait for company, ms",
    )

    lim = p.add_argument_group("limits (docs/serving/limits.md: what a client sees past each)")
    lim.add_argument(
        "--max-message-bytes", type=int, default=limit("max_message_bytes"), help="largest message, bytes"
    )
    lim.add_argument("--max-items", type=int, default=limit("max_items"), help="items per request")
    lim.add_argument(
        "--max-item-chars",
        type=int,
        default=limit("max_item_chars"),
        help="characters per item (all its text)",
    )
    lim.add_argument(
        "--max-queue-depth", type=int, default=limit("max_queue_depth"), help="items waiting per engine"
    )
    lim.add_argument(
        "--max-item-timeout",
        type=float,
        default=limit("max_item_timeout_s"),
        help="largest per-request timeout_s",
    )
    lim.add_argument(
        "--max-stream-in-flight",
        type=int,
        default=limit("max_stream_in_flight"),
        help="items of one VerifyStream read and not yet sent back; the stream reads no further until one is",
    )
    lim.add_argument(
        "--max-inflight-bytes",
        type=int,
        default=limit("max_inflight_bytes"),
        help="request bytes held by all calls in flight (both protocols); beyond: RESOURCE_EXHAUSTED / 503",
    )
    lim.add_argument(
        "--http-header-timeout",
        type=float,
        default=default_of(HttpTimeouts, "header_s"),
        help="HTTP: seconds to receive a request's line and headers",
    )
    lim.add_argument(
        "--http-body-timeout",
        type=float,
        default=default_of(HttpTimeouts, "body_s"),
        help="HTTP: seconds to receive a request's body (408 past it)",
    )
    lim.add_argument(
        "--http-keepalive-timeout",
        type=float,
        default=default_of(HttpTimeouts, "keepalive_s"),
        help="HTTP: seconds an idle keep-alive connection stays open",
    )

    sec = p.add_argument_group("security")
    sec.add_argument(
        "--token-file",
        type=Path,
        default=None,
        help="require 'authorization: Bearer <token>' with the token in this file (or set MATHREWARD_TOKEN); "
        "an empty file is an error, a file others can read a warning",
    )
    sec.add_argument("--tls-cert", type=Path, default=None, help="server certificate chain (PEM)")
    sec.add_argument("--tls-key", type=Path, default=None, help="server private key (PEM)")
    sec.add_argument(
        "--tls-client-ca", type=Path, default=None, help="CA for client certificates (mutual TLS)"
    )

    life = p.add_argument_group("shutdown")
    life.add_argument(
        "--grace",
        type=float,
        default=server("grace_s"),
        help="on SIGTERM, seconds in-flight calls (both protocols) may take; then they are cut and it exits",
    )
    life.add_argument(
        "--drain-delay",
        type=float,
        default=server("drain_delay_s"),
        help="on SIGTERM, seconds of NOT_SERVING first",
    )
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ...")
    p.set_defaults(func=run)


def _token(args: argparse.Namespace) -> str | None:
    """The bearer token from --token-file or MATHREWARD_TOKEN; fails closed on an empty one."""
    if args.token_file is not None:
        path: Path = args.token_file
        token = path.read_text(encoding="utf-8").strip()
        if not token:
            raise ValueError(f"--token-file {path} is empty: refusing to start with auth switched off")
        mode = path.stat().st_mode
        if mode & 0o077:
            log.warning(
                "--token-file %s can be read by its group or others (mode %03o); chmod 600 it",
                path,
                mode & 0o777,
            )
        return token
    env = os.environ.get("MATHREWARD_TOKEN")
    if env is None:
        return None
    if not env.strip():
        raise ValueError("MATHREWARD_TOKEN is set but empty: unset it to run without auth, or give a token")
    return env.strip()


def _judge(args: argparse.Namespace) -> Any:
    if args.judge_url is None:
        return None
    from verifier.judge import JudgeConfig

    return JudgeConfig(
        base_url=args.judge_url,
        model=args.judge_model,
        api_key_env=args.judge_api_key_env,
        timeout_s=args.judge_timeout,
    )


def config_from_args(args: argparse.Namespace) -> Any:
    from mathreward.service.config import BatcherConfig, HttpTimeouts, ServerConfig, ServiceLimits, TLSConfig
    from verifier.config import VerifyConfig

    tls = None
    if args.tls_cert is not None or args.tls_key is not None:
        if args.tls_cert is None or args.tls_key is None:
            raise SystemExit("mathreward serve: --tls-cert and --tls-key go together")
        tls = TLSConfig(cert_file=args.tls_cert, key_file=args.tls_key, client_ca_file=args.tls_client_ca)
    elif args.tls_client_ca is not None:
        raise SystemExit("mathreward serve: --tls-client-ca needs --tls-cert and --tls-key")
    return ServerConfig(
        host=args.host,
        port=args.port,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        limits=ServiceLimits(
            max_message_bytes=args.max_message_bytes,
            max_items=args.max_items,
            max_item_chars=args.max_item_chars,
            max_queue_depth=args.max_queue_depth,
            max_item_timeout_s=args.max_item_timeout,
            max_stream_in_flight=args.max_stream_in_flight,
            max_inflight_bytes=args.max_inflight_bytes,
        ),
        http_timeouts=HttpTimeouts(
            header_s=args.http_header_timeout,
            body_s=args.http_body_timeout,
            keepalive_s=args.http_keepalive_timeout,
        ),
        verify_config=VerifyConfig(timeout_s=args.timeout, memory_mb=args.memory_mb, judge=_judge(args)),
        verify_workers=args.workers,
        verify_chunk_items=args.chunk_items,
        prm_model=args.prm_model,
        prm_format=args.prm_format,
        prm_device=args.prm_device,
        prm_dtype=args.prm_dtype,
        batcher=BatcherConfig(
            max_batch_tokens=args.max_batch_tokens,
            max_batch_items=args.max_batch_items,
            max_wait_ms=args.max_wait_ms,
        ),
        token=_token(args),
        tls=tls,
        grace_s=args.grace,
        drain_delay_s=args.drain_delay,
        http_port=args.http_port,
    )


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = config_from_args(args)
    except (ValueError, OSError) as exc:
        print(f"mathreward serve: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_main(config))
    except OSError as exc:  # the port is taken, a certificate file is unreadable
        print(f"mathreward serve: {exc}", file=sys.stderr)
        return 2


async def _main(config: Any) -> int:
    from mathreward.server import MathRewardServer, serve

    def started(server: MathRewardServer) -> None:
        line = {
            "event": "serving",
            "host": config.host,
            "port": server.port,
            "metrics_port": server.metrics_port,
            "http_port": server.http_port,
            "prm": server.state.prm.state.value,
        }
        print(json.dumps(line), flush=True)

    return await serve(config, on_started=started)
