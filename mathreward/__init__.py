"""mathreward: the composition root (gRPC server, clients, CLI, trainer adapters).

``from mathreward import Client, AsyncClient`` loads the gRPC client on first use, so a plain
``import mathreward`` stays light (no grpc, no torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["AsyncClient", "Client", "ItemError", "Reward", "__version__"]

if TYPE_CHECKING:
    from mathreward.client import AsyncClient, Client, ItemError, Reward

_LAZY = {"AsyncClient", "Client", "ItemError", "Reward"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from mathreward import client

        return getattr(client, name)
    raise AttributeError(f"module 'mathreward' has no attribute {name!r}")
