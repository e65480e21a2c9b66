"""The options that reach a ``mathreward serve``: its address(es), a token and TLS, shared by the commands
that send work to a server (``rescore --server``); the same settings as :class:`mathreward.Client` and the
adapters' environment variables."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_server_options(group: Any) -> None:
    """``--server`` and its token and TLS options, added to an argparse group."""
    group.add_argument(
        "--server",
        metavar="HOST:PORT[,HOST:PORT...]",
        help="send the work to a running `mathreward serve` (several replicas: a comma-separated list, or "
        "a DNS name with several addresses as dns:///NAME:PORT; called round-robin)",
    )
    group.add_argument(
        "--token-file",
        type=Path,
        default=None,
        help="bearer token for the --server, read from this file (default: $MATHREWARD_TOKEN)",
    )
    group.add_argument(
        "--tls", action="store_true", help="reach the --server over TLS with the system's roots"
    )
    group.add_argument(
        "--tls-ca",
        type=Path,
        default=None,
        metavar="PEM",
        help="CA certificate that signed the server's (implies --tls; default: $MATHREWARD_TLS_CA)",
    )
    group.add_argument(
        "--tls-cert",
        type=Path,
        default=None,
        metavar="PEM",
        help="client certificate chain, for mutual TLS (with --tls-key)",
    )
    group.add_argument(
        "--tls-key", type=Path, default=None, metavar="PEM", help="client private key (mutual TLS)"
    )
    group.add_argument(
        "--tls-server-name",
        default=None,
        metavar="NAME",
        help="the name to check in the server's certificate (default: the host's)",
    )


def server_spec(args: argparse.Namespace) -> Any:
    """The :class:`mathreward.backend.ServerSpec` the options ask for (None: no --server).

    Raises ValueError with a usage message for options that do not fit together or a bad token file.
    """
    from mathreward.backend import ServerSpec

    tls_given = args.tls or args.tls_ca or args.tls_cert or args.tls_key or args.tls_server_name
    if not args.server:
        if tls_given or args.token_file:
            raise ValueError("the token and TLS options go with --server")
        return None
    if (args.tls_cert is None) != (args.tls_key is None):
        raise ValueError("--tls-cert and --tls-key go together (mutual TLS)")
    token = None
    if args.token_file is not None:
        try:
            token = args.token_file.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ValueError(f"cannot read --token-file: {e}") from e
        if not token:
            raise ValueError(f"--token-file {args.token_file} is empty")
    for flag, path in (("--tls-ca", args.tls_ca), ("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key)):
        if path is not None and not path.is_file():
            raise ValueError(f"{flag} {path}: no such file")
    return ServerSpec.resolve(
        args.server,
        token=token,
        tls=args.tls,
        root_certs=args.tls_ca,
        client_cert=args.tls_cert,
        client_key=args.tls_key,
        server_name=args.tls_server_name,
    )
