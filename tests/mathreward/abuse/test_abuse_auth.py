"""Auth that cannot be switched off by accident, on both ports.

Was: an empty or whitespace token file started a server with no auth and no warning; a world-readable
token file was accepted silently; with --tls-* the HTTP routes stayed plain HTTP, and under mutual TLS
without a token they were open to anyone; UNAUTHENTICATED was counted under a second label scheme.
"""

from __future__ import annotations

import logging
import shutil
import ssl
from pathlib import Path

import grpc
import httpx
import pytest

from mathreward import Client
from mathreward.cli import build_parser
from tests.mathreward.abuse.helpers import metric, run_serve
from tests.mathreward.service_helpers import make_certs, server_config

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


@pytest.mark.parametrize("content", ["", "\n", "   \t\n"])
def test_an_empty_token_file_is_a_start_up_error(tmp_path: Path, content: str) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(content)
    token_file.chmod(0o600)
    done = run_serve("--port", "0", "--token-file", str(token_file), timeout=60)  # was: served, no auth
    assert done.returncode == 2 and "is empty" in done.stderr, done.stderr


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_token_variable_is_a_start_up_error(value: str) -> None:
    done = run_serve("--port", "0", env={"MATHREWARD_TOKEN": value}, timeout=60)
    assert done.returncode == 2 and "MATHREWARD_TOKEN is set but empty" in done.stderr, done.stderr


@pytest.mark.parametrize("token", ["", " ", "two words", "caf\u00e9", "tab\there"])
def test_a_token_that_cannot_travel_in_a_header_is_refused_by_the_config(token: str) -> None:
    from mathreward.server import ServerConfig

    with pytest.raises(ValueError, match="bearer token"):
        ServerConfig(token=token)


def test_a_token_file_others_can_read_is_a_warning(tmp_path: Path, caplog) -> None:
    from mathreward.commands.serve import config_from_args

    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    parser = build_parser()
    for mode, warned in ((0o644, True), (0o640, True), (0o600, False), (0o400, False)):
        token_file.chmod(mode)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="mathreward.serve"):
            config = config_from_args(parser.parse_args(["serve", "--token-file", str(token_file)]))
        assert config.token == "s3cret"
        assert ("chmod 600" in caplog.text) is warned, (oct(mode), caplog.text)


def test_unauthenticated_is_counted_under_the_method_name(start_server) -> None:
    server = start_server(server_config(token="s3cret"))
    with Client(server.target, timeout=30, retries=0) as c, pytest.raises(grpc.RpcError):
        c.verify("1", "1")
    page = server.metrics()
    assert metric(page, "mathreward_requests_total", method="Verify", code="UNAUTHENTICATED") == 1
    assert "/mathreward.v1." not in page  # one label scheme: the method's name, never its full path


def _https(port: int, certs: dict[str, Path], client_cert: bool) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(certs["ca.pem"]))
    if client_cert:
        context.load_cert_chain(certs["client.pem"], certs["client.key"])
    return httpx.Client(base_url=f"https://localhost:{port}", verify=context, timeout=30)


SAMPLE = {"prompt": "1+1?", "response": "\\boxed{2}", "label": "2"}


@needs_openssl
def test_with_tls_the_http_port_serves_https_only(start_server, tmp_path: Path) -> None:
    from mathreward.server import TLSConfig

    certs = make_certs(tmp_path)
    tls = TLSConfig(cert_file=certs["server.pem"], key_file=certs["server.key"])
    server = start_server(server_config(tls=tls, http_port=0))
    port = server.server.http_port
    with _https(port, certs, client_cert=False) as client:
        assert client.post("/slime/reward", json=SAMPLE).json()["acc"] is True
    with pytest.raises(httpx.HTTPError):  # plain HTTP on the TLS port: no answer
        httpx.post(f"http://127.0.0.1:{port}/slime/reward", json=SAMPLE, timeout=30)


@needs_openssl
def test_under_mutual_tls_without_a_token_http_needs_a_client_certificate(
    start_server, tmp_path: Path
) -> None:
    from mathreward.server import TLSConfig

    certs = make_certs(tmp_path)
    mtls = TLSConfig(
        cert_file=certs["server.pem"], key_file=certs["server.key"], client_ca_file=certs["ca.pem"]
    )
    server = start_server(server_config(tls=mtls, http_port=0))
    port = server.server.http_port
    with _https(port, certs, client_cert=True) as client:
        assert client.post("/slime/reward", json=SAMPLE).json()["acc"] is True
    with _https(port, certs, client_cert=False) as client, pytest.raises(httpx.HTTPError):
        client.post("/slime/reward", json=SAMPLE)
    with pytest.raises(httpx.HTTPError):
        httpx.post(f"http://127.0.0.1:{port}/slime/reward", json=SAMPLE, timeout=30)
