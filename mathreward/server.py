"""The gRPC server: one grpc.aio process hosting VerifyService, ProcessRewardService and RewardService,
with standard health checking, reflection, limits, optional bearer-token auth and TLS, Prometheus
metrics, and a graceful drain.

    from mathreward.server import ServerConfig, build_server

    server = build_server(ServerConfig(port=0, prm_model=Path("models/prm")))
    await server.start()          # listening; the PRM loads in the background
    print(server.port)
    await server.drain()          # health NOT_SERVING, new calls UNAVAILABLE, in-flight calls finish

``server.state`` (:class:`ServerState`) holds what other front ends in the same process share with the
gRPC services: limits, auth, the byte budget, metrics, the engines and the draining flag. With
``ServerConfig.http_port`` the server also serves the HTTP routes (``mathreward.http_routes``) on it,
over TLS when ``tls`` is set, and drains them with the gRPC calls within the same grace.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import ssl
from collections.abc import Callable, Coroutine
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from mathreward._proto import (
    process_reward_pb2,
    reward_pb2,
    verify_pb2,
)
from mathreward.service.auth import BearerTokenInterceptor
from mathreward.service.config import BatcherConfig, ServerConfig, ServiceLimits, TLSConfig
from mathreward.service.engines import PRMState
from mathreward.service.servicers import ProcessRewardServicer, RewardServicer, VerifyServicer, add_service
from mathreward.service.state import ServerState

__all__ = [
    "PROCESS_REWARD_SERVICE",
    "REWARD_SERVICE",
    "VERIFY_SERVICE",
    "BatcherConfig",
    "MathRewardServer",
    "ServerConfig",
    "ServerState",
    "ServiceLimits",
    "TLSConfig",
    "build_server",
    "serve",
]

log = logging.getLogger("mathreward.server")

VERIFY_SERVICE = verify_pb2.DESCRIPTOR.services_by_name["VerifyService"].full_name
PROCESS_REWARD_SERVICE = process_reward_pb2.DESCRIPTOR.services_by_name["ProcessRewardService"].full_name
REWARD_SERVICE = reward_pb2.DESCRIPTOR.services_by_name["RewardService"].full_name
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class MathRewardServer:
    """One server: build it with :func:`build_server`, then ``await start()`` inside an event loop."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.state = ServerState(config)
        self.port = 0  # the bound port, once started
        self.metrics_port: int | None = None  # the /metrics port, once started (None: not exposed)
        self.http_port: int | None = None  # the HTTP routes' port, once started (None: not served)
        self._http_runner: Any = None
        self._server: grpc.aio.Server | None = None
        self._health = health.aio.HealthServicer()  # type: ignore[attr-defined]
        self._background: set[asyncio.Task[None]] = set()
        self._stopped = asyncio.Event()
        self._drain_task: asyncio.Task[None] | None = None
        self._drain_started = False

    async def start(self) -> None:
        config = self.config
        interceptors = []
        if self.state.token is not None:
            interceptors.append(BearerTokenInterceptor(self.state.token, self.state.metrics))
        size = config.limits.max_message_bytes
        server = grpc.aio.server(
            interceptors=interceptors,
            options=[
                ("grpc.max_receive_message_length", size),
                ("grpc.max_send_message_length", size),
                ("grpc.so_reuseport", 0),
                ("grpc.http2.bdp_probe", 0),
            ],
        )
        for servicer, module, name in (
            (VerifyServicer(self.state), verify_pb2, "VerifyService"),
            (ProcessRewardServicer(self.state), process_reward_pb2, "ProcessRewardService"),
            (RewardServicer(self.state), reward_pb2, "RewardService"),
        ):
            add_service(server, servicer, module.DESCRIPTOR.services_by_name[name], module)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        names = (
            VERIFY_SERVICE,
            PROCESS_REWARD_SERVICE,
            REWARD_SERVICE,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        )
        reflection.enable_server_reflection(names, server)
        address = f"{config.host}:{config.port}"
        try:
            if config.tls is None:
                self.port = server.add_insecure_port(address)
            else:
                self.port = server.add_secure_port(address, _server_credentials(config.tls))
        except RuntimeError as exc:  # grpc's way of saying the address is taken or invalid
            raise OSError(f"cannot listen on {address}: {exc}") from exc
        await self._set_health()
        await server.start()
        self._server = server
        if config.http_port is not None:
            await self._start_http(config.http_port)
        if config.metrics_port is not None:
            self.metrics_port = self.state.metrics.serve(
                config.metrics_port, config.metrics_host or config.host
            )
        self._spawn(self._load_prm())
        self._spawn(self._warm_up())
        log.info("serving on %s:%d", config.host, self.port)

    async def _start_http(self, port: int) -> None:
        from mathreward import http_routes

        config = self.config
        context = server_ssl_context(config.tls) if config.tls is not None else None
        app = http_routes.make_http_app(self.state)
        try:
            self._http_runner, self.http_port = await http_routes.start_http(
                app, config.host, port, timeouts=config.http_timeouts, ssl_context=context
            )
        except OSError:
            await self.stop()
            raise

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _set_health(self) -> None:
        prm_ready = self.state.prm.state is PRMState.READY
        prm_wanted = self.config.prm_model is not None
        await self._health.set(VERIFY_SERVICE, _SERVING)
        await self._health.set(REWARD_SERVICE, _SERVING)
        await self._health.set(PROCESS_REWARD_SERVICE, _SERVING if prm_ready else _NOT_SERVING)
        await self._health.set("", _SERVING if prm_ready or not prm_wanted else _NOT_SERVING)

    async def _load_prm(self) -> None:
        await self.state.prm.load()
        if not self.state.draining:
            await self._set_health()

    async def _warm_up(self) -> None:
        try:
            await self.state.verify.warm_up(self.config.verify_config)
        except Exception:  # a failed warm-up only costs the first call its start-up time
            log.exception("verifier warm-up failed")

    async def drain(self, grace_s: float | None = None) -> None:
        """Stop gracefully: health NOT_SERVING, new calls UNAVAILABLE (HTTP 503), in-flight calls of both
        protocols get ``grace_s`` to finish; then gRPC calls are cancelled and HTTP calls answered 503."""
        if self._drain_started:
            await self._stopped.wait()
            return
        self._drain_started = True
        self.state.draining = True
        grace = self.config.grace_s if grace_s is None else grace_s
        await self._health.enter_graceful_shutdown()
        if self.config.drain_delay_s > 0:
            await asyncio.sleep(self.config.drain_delay_s)
        await asyncio.gather(self._stop_grpc(grace), self._stop_http(grace))
        await self._close()

    async def _stop_grpc(self, grace: float | None) -> None:
        if self._server is not None:
            await self._server.stop(grace)

    async def _stop_http(self, grace: float) -> None:
        if self._http_runner is not None:
            from mathreward.http_routes import drain_http

            runner, self._http_runner = self._http_runner, None
            await drain_http(runner, grace)

    def request_drain(self) -> None:
        """Start :meth:`drain` in the background (what SIGTERM does); a second request is a no-op."""
        if self._drain_task is None:
            self._drain_task = asyncio.ensure_future(self.drain())

    async def stop(self) -> None:
        """Stop now: in-flight calls are cancelled."""
        self.state.draining = True
        await asyncio.gather(self._stop_grpc(None), self._stop_http(0))
        await self._close()

    async def _close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.state.prm.close()
        self.state.verify.close()
        self.state.metrics.close()
        self._stopped.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()


def build_server(config: ServerConfig | None = None) -> MathRewardServer:
    """A server for ``config`` (defaults when None); nothing is bound until ``await server.start()``."""
    return MathRewardServer(config or ServerConfig())


def server_ssl_context(tls: TLSConfig) -> ssl.SSLContext:
    """The HTTP routes' TLS: the gRPC port's certificate, and its client CA (certificates required)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.client_ca_file is not None:
        context.load_verify_locations(cafile=tls.client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _server_credentials(tls: TLSConfig) -> grpc.ServerCredentials:
    key = tls.key_file.read_bytes()
    cert = tls.cert_file.read_bytes()
    client_ca = tls.client_ca_file.read_bytes() if tls.client_ca_file is not None else None
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


async def serve(
    config: ServerConfig,
    *,
    on_started: Callable[[MathRewardServer], object] | None = None,
    handle_signals: bool = True,
) -> int:
    """Run a server until SIGTERM or SIGINT, then drain it; returns the exit status (0)."""
    server = build_server(config)
    await server.start()
    if on_started is not None:
        result = on_started(server)
        if asyncio.iscoroutine(result):
            await result
    if handle_signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, functools.partial(_on_signal, server, sig))
    await server.wait_stopped()
    return 0


def _on_signal(server: MathRewardServer, sig: signal.Signals) -> None:
    log.info("%s: draining (grace %.1f s)", sig.name, server.config.grace_s)
    server.request_drain()
