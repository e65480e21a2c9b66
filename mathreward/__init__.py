"""mathreward: the composition root (gRPC server, clients, CLI, trainer adapters)."""

__version__ = "0.1.0"
