"""Helpers of the service tests: a real server on a loopback port in a thread with its own event loop
(so blocking clients and asyncio clients in a test can both talk to it), configs, certificates."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import urllib.request
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import Any

PRM_SERVICE = "mathreward.v1.ProcessRewardService"


class ServerThread:
    """A :class:`mathreward.server.MathRewardServer` run in a thread of its own with its own event loop."""

    def __init__(self, config: Any) -> None:
        from mathreward.server import build_server

        self.server = build_server(config)
        self.loop = asyncio.new_event_loop()
        self._started: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, name="test-server", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.server.start())
        except BaseException as exc:
            self._started.set_exception(exc)
            return
        self._started.set_result(None)
        self.loop.run_until_complete(self.server.wait_stopped())
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    def start(self) -> ServerThread:
        self._thread.start()
        self._started.result(timeout=60)
        return self

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    @property
    def state(self) -> Any:
        return self.server.state

    def run(self, coro: Any, timeout: float = 60) -> Any:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def metrics(self) -> str:
        """The /metrics page, fetched over HTTP on loopback."""
        url = f"http://127.0.0.1:{self.server.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            return str(response.read().decode())

    def stop(self, grace: float = 5.0) -> None:
        if self._thread.is_alive():
            self.run(self.server.drain(grace), timeout=grace + 30)
            self._thread.join(timeout=30)


def server_config(**overrides: Any) -> Any:
    """A loopback, free-port server config for tests; limits small enough to reach."""
    from mathreward.server import ServerConfig, ServiceLimits

    limits = overrides.pop("limits", ServiceLimits(max_items=300, max_item_chars=20_000))
    base = ServerConfig(
        host="127.0.0.1",
        port=0,
        metrics_port=0,
        limits=limits,
        verify_workers=2,
        grace_s=5.0,
        drain_delay_s=0.0,
    )
    return replace(base, **overrides)


def make_certs(out: Path) -> dict[str, Path]:
    """A throwaway CA, a server certificate for localhost/127.0.0.1 and a client certificate (openssl)."""
    out.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=out, check=True, capture_output=True)

    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=test-ca")
    (out / "server.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    (out / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name in ("server", "client"):
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.pem",
            "-days",
            "1",
            "-extfile",
            f"{name}.ext",
        )
    return {n: out / n for n in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")}
