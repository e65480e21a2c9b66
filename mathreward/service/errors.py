"""The service's exceptions, and the mapping of any error to a gRPC status (one place for each).

    ServiceError                 a call-level failure with a status code and a message
    ├── InvalidArgument          a malformed request; the message names the field
    ├── ResourceExhausted        a request over a limit, or a full queue
    │   └── OverBudget           the server's in-flight request bytes are at their limit (HTTP: 503)
    ├── Unavailable              the server is draining, or an engine is still loading
    ├── FailedPrecondition       the engine a call needs is not configured or failed to load
    └── DeadlineExceeded         the call's deadline passed before its work was done

Per-item failures inside a batch are not exceptions of the call: :func:`item_error` turns an engine's
error on one item into an ``ItemError`` message and the rest of the batch is answered.
"""

from __future__ import annotations

import asyncio
import logging

import grpc

from mathreward._proto import common_pb2

log = logging.getLogger("mathreward.server")


class ServiceError(Exception):
    """A call-level failure: ``code`` is the gRPC status the call ends with."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str, *, field: str = "") -> None:
        self.field = field  # the request field at fault ("items[3].reference"), or ""
        super().__init__(f"{field}: {message}" if field else message)


class InvalidArgument(ServiceError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class ResourceExhausted(ServiceError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class OverBudget(ResourceExhausted):
    """The server already holds ``max_inflight_bytes`` of requests; this replica is full for now."""


class Unavailable(ServiceError):
    code = grpc.StatusCode.UNAVAILABLE


class FailedPrecondition(ServiceError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class DeadlineExceeded(ServiceError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status a call ends with when ``exc`` escapes its handler (the one mapping of the service)."""
    if isinstance(exc, ServiceError):
        return exc.code, str(exc)
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return grpc.StatusCode.DEADLINE_EXCEEDED, "the call's deadline passed before its work was done"
    if isinstance(exc, MemoryError):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, "out of memory"
    log.exception("internal error", exc_info=exc)
    return grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}"


_ITEM_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT: common_pb2.ITEM_ERROR_CODE_INVALID_ARGUMENT,
    grpc.StatusCode.RESOURCE_EXHAUSTED: common_pb2.ITEM_ERROR_CODE_RESOURCE_EXHAUSTED,
    grpc.StatusCode.FAILED_PRECONDITION: common_pb2.ITEM_ERROR_CODE_FAILED_PRECONDITION,
}


def item_error(exc: BaseException, field: str) -> common_pb2.ItemError:
    """The ``ItemError`` of one item that an engine (or the service's checks) refused.

    ``ServiceError`` keeps its code; the PRM engine's errors (too long, empty steps, bad format) are the
    item's fault and read INVALID_ARGUMENT (RESOURCE_EXHAUSTED when the item is over the model's length);
    anything else is INTERNAL.
    """
    if isinstance(exc, ServiceError):
        code = _ITEM_CODES.get(exc.code, common_pb2.ITEM_ERROR_CODE_INTERNAL)
        return common_pb2.ItemError(code=code, field=exc.field or field, message=str(exc))
    if _is_prm_error(exc):
        too_long = "long" in type(exc).__name__.lower() or "too long" in str(exc).lower()
        code = (
            common_pb2.ITEM_ERROR_CODE_RESOURCE_EXHAUSTED
            if too_long
            else common_pb2.ITEM_ERROR_CODE_INVALID_ARGUMENT
        )
        return common_pb2.ItemError(code=code, field=field, message=f"{type(exc).__name__}: {exc}")
    log.exception("engine error on %s", field, exc_info=exc)
    return common_pb2.ItemError(
        code=common_pb2.ITEM_ERROR_CODE_INTERNAL, field=field, message=f"{type(exc).__name__}: {exc}"
    )


def _is_prm_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a ``prm.PRMError`` (checked by the class tree, so ``prm`` is not imported here)."""
    return any(cls.__name__ == "PRMError" and cls.__module__.startswith("prm") for cls in type(exc).__mro__)
