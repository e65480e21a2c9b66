"""Shared fixtures of the service tests: real servers on loopback ports (see service_helpers.py) and the
tiny Math-Shepherd PRM built by fixtures/make_tiny_models.py."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.mathreward.service_helpers import PRM_SERVICE, ServerThread, server_config

ROOT = Path(__file__).resolve().parents[2]


def _builder() -> Any:
    spec = importlib.util.spec_from_file_location(
        "make_tiny_models", ROOT / "fixtures" / "make_tiny_models.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tiny_prm() -> Path:
    """The tiny Math-Shepherd PRM (built once, cached in fixtures/models/)."""
    pytest.importorskip("torch")
    return Path(_builder().ensure_built()["math-shepherd"])


@pytest.fixture
def start_server() -> Iterator[Any]:
    """``start_server(config) -> ServerThread``; every server started is drained at teardown."""
    started: list[ServerThread] = []

    def start(config: Any) -> ServerThread:
        thread = ServerThread(config).start()
        started.append(thread)
        return thread

    yield start
    for thread in started:
        thread.stop()


@pytest.fixture(scope="module")
def prm_server(tiny_prm: Path) -> Iterator[ServerThread]:
    """One server per test module with the tiny PRM loaded (waits for its health to read SERVING)."""
    from mathreward import Client

    thread = ServerThread(server_config(prm_model=tiny_prm, prm_device="cpu", prm_dtype="float32")).start()
    with Client(thread.target) as client:
        client.wait_ready(PRM_SERVICE, timeout=120)
    yield thread
    thread.stop()


@pytest.fixture
def grpc_client(prm_server: ServerThread) -> Iterator[Any]:
    from mathreward import Client

    with Client(prm_server.target, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """A local Ray with 2 CPUs, started in this process once per test module; its GCS address (the
    CLI joins it with ``--ray-address``). Actors it starts are this process's descendants."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=200 * 1024 * 1024)
    try:
        yield str(ray.get_runtime_context().gcs_address)
    finally:
        ray.shutdown()
