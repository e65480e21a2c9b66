"""Optional bearer-token auth: a server interceptor that refuses calls without the token (UNAUTHENTICATED).

Health checks are exempt so that load balancers and orchestrators can probe without the secret.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from mathreward.service.config import token_problem
from mathreward.service.prometheus import Metrics

HEALTH_PREFIX = "/grpc.health.v1.Health/"


class TokenChecker:
    """Checks an ``authorization`` header value against the configured token, in constant time."""

    def __init__(self, token: str) -> None:
        problem = token_problem(token)
        if problem is not None:
            raise ValueError(problem)
        self._expected = f"Bearer {token}".encode()

    def check(self, header: str | bytes | None) -> bool:
        """Whether ``header`` is ``Bearer <token>``; a header that is not ASCII is simply not it."""
        if header is None:
            return False
        if isinstance(header, str):
            try:
                value = header.encode("ascii")
            except UnicodeEncodeError:
                return False
        else:
            value = header
        return hmac.compare_digest(value, self._expected)


def _authorization(metadata: Any) -> str | bytes | None:
    for key, value in metadata or ():
        if key.lower() == "authorization":
            return value
    return None


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):
    """Lets a call through when its ``authorization`` metadata is ``Bearer <token>``."""

    def __init__(self, checker: TokenChecker, metrics: Metrics) -> None:
        self._checker = checker
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        if method.startswith(HEALTH_PREFIX) or self._checker.check(
            _authorization(handler_call_details.invocation_metadata)
        ):
            return await continuation(handler_call_details)
        handler = await continuation(handler_call_details)
        if handler is None:  # an unknown method: let gRPC answer UNIMPLEMENTED
            return handler
        self._metrics.auth_failures.inc()
        # the label the servicers count under: the method's name, not its full path
        name = method.rsplit("/", 1)[-1]
        self._metrics.requests.labels(method=name, code=grpc.StatusCode.UNAUTHENTICATED.name).inc()
        return _refusing(handler)


async def _refuse(_request: Any, context: grpc.aio.ServicerContext) -> None:
    await context.abort(
        grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token (authorization metadata)"
    )


def _refusing(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """A handler of the same kind as ``handler`` that answers UNAUTHENTICATED."""
    kwargs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(_refuse, **kwargs)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(_refuse, **kwargs)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(_refuse, **kwargs)
    return grpc.unary_unary_rpc_method_handler(_refuse, **kwargs)
