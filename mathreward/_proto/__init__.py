"""Generated gRPC stubs for ``proto/mathreward/v1`` (do not edit; run ``python -m mathreward._proto.generate``)."""
