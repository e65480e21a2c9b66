"""Addresses to a gRPC target: one server, several replicas, or a DNS name that resolves to several.

- one ``host:port`` (or any gRPC target URI: ``dns:///name:port``, ``ipv4:...``, ``unix:...``) goes to
  gRPC as it is; a name that resolves to several addresses gets calls round-robin over all of them;
- several addresses (a list, or ``host:port`` strings joined by commas) become one ``ipv4:`` (or
  ``ipv6:``) target; host names among them are resolved once, here, when the client is made.

With several addresses the authority (the name TLS checks in the server's certificate) is the first
address's, as if it alone had been given.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass

_SCHEMES = ("dns:", "ipv4:", "ipv6:", "unix:", "unix-abstract:", "vsock:", "xds:")


@dataclass(frozen=True)
class ChannelTarget:
    target: str  # what grpc's channel constructor gets
    authority: str | None  # the authority to present, when it is not the target's own
    replicas: int  # how many addresses the target names before resolution (1 for one name)


def _split_host_port(address: str) -> tuple[str, int]:
    host, sep, port = address.strip().rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"expected host:port, got {address!r}")
    return host.removeprefix("[").removesuffix("]"), int(port)


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise ValueError(f"cannot resolve {host}: {e}") from e
    out: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if ip not in out:
            out.append(ip)
    return out


def channel_target(addresses: str | Sequence[str]) -> ChannelTarget:
    """The gRPC target for ``addresses`` (one, several joined by commas, or a list)."""
    if isinstance(addresses, str):
        if addresses.startswith(_SCHEMES) or "," not in addresses:
            return ChannelTarget(addresses.strip(), None, 1)
        addresses = addresses.split(",")
    items = [a.strip() for a in addresses if a.strip()]
    if not items:
        raise ValueError("no server address given")
    if len(items) == 1:
        return channel_target(items[0])
    endpoints: list[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]] = []
    for item in items:
        host, port = _split_host_port(item)
        ip = _ip(host)
        ips = [ip] if ip is not None else _resolve(host, port)
        endpoints.extend((a, port) for a in ips)
    v4 = [(a, p) for a, p in endpoints if a.version == 4]
    v6 = [(a, p) for a, p in endpoints if a.version == 6]
    if v4:  # one target URI holds one address family; IPv4 where there is any
        target = "ipv4:" + ",".join(f"{a}:{p}" for a, p in v4)
    else:
        target = "ipv6:" + ",".join(f"[{a}]:{p}" for a, p in v6)
    return ChannelTarget(target, items[0], len(items))
