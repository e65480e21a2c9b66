"""What the clients raise: one tree, each failed call mapped from its gRPC status in one place.

    ClientError                   anything the client raises about a call's outcome
    ├── ItemError                 the server refused one item of a batch (the call itself succeeded)
    ├── StreamIncomplete          a stream ended without an answer for every item sent
    └── StatusError               the call failed with a gRPC status: .code(), .details(), .rpc
        ├── BadRequest            INVALID_ARGUMENT, OUT_OF_RANGE: a malformed request (details: the field)
        ├── Unauthenticated       UNAUTHENTICATED, PERMISSION_DENIED: a missing, wrong or unauthorised token
        ├── LimitExceeded         RESOURCE_EXHAUSTED: over a server limit (items, bytes, queue); retry later
        ├── NotReady              FAILED_PRECONDITION: the engine the call needs is not configured/loaded
        ├── Timeout               DEADLINE_EXCEEDED: the call's deadline passed (also a TimeoutError)
        ├── Unreachable           UNAVAILABLE once the retry policy gave up (also a ConnectionError)
        ├── Cancelled             CANCELLED
        ├── Unsupported           UNIMPLEMENTED, NOT_FOUND: the server does not offer the call
        └── ServerFault           INTERNAL, UNKNOWN, DATA_LOSS and every other code

A :class:`StatusError` is also a :class:`grpc.RpcError` with ``code()`` and ``details()``, so code written
against grpc's own errors keeps working; grpc's error objects themselves never leave the client (the one
that caused a StatusError is its ``__cause__``).
"""

from __future__ import annotations

import grpc

from mathreward._proto import common_pb2

__all__ = [
    "BadRequest",
    "Cancelled",
    "ClientError",
    "ItemError",
    "LimitExceeded",
    "NotReady",
    "ServerFault",
    "StatusError",
    "StreamIncomplete",
    "Timeout",
    "Unauthenticated",
    "Unreachable",
    "Unsupported",
]


class ClientError(Exception):
    """Anything the client raises about a call's outcome."""


class ItemError(ClientError):
    """The server refused one item of a batch (the call itself succeeded)."""

    def __init__(self, code: str, field: str, message: str) -> None:
        self.code = code  # "INVALID_ARGUMENT", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "INTERNAL"
        self.field = field  # the request field at fault, e.g. "items[0].steps"
        self.message = message
        super().__init__(f"{code}: {message}")

    @classmethod
    def from_pb(cls, error: common_pb2.ItemError) -> ItemError:
        name = common_pb2.ItemErrorCode.Name(error.code).removeprefix("ITEM_ERROR_CODE_")
        return cls(name, error.field, error.message)


class StreamIncomplete(ClientError):
    """A stream ended (with an OK status) before every item sent was answered."""

    def __init__(self, message: str, missing: int) -> None:
        self.missing = missing  # how many items got no answer
        super().__init__(message)


class StatusError(ClientError, grpc.RpcError):
    """The call failed with a gRPC status; ``code()`` and ``details()`` as on grpc's own errors."""

    def __init__(self, code: grpc.StatusCode, details: str, rpc: str) -> None:
        self._code = code
        self._details = details
        self.rpc = rpc  # the RPC that failed, e.g. "Verify"
        super().__init__(f"{rpc}: {code.name}: {details}")

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


class BadRequest(StatusError):
    """INVALID_ARGUMENT, OUT_OF_RANGE: the request is malformed; the details name the field."""


class Unauthenticated(StatusError):
    """UNAUTHENTICATED, PERMISSION_DENIED: a missing, wrong or unauthorised token."""


class LimitExceeded(StatusError):
    """RESOURCE_EXHAUSTED: over a server limit (items, bytes, queue depth); retry later or send less."""


class NotReady(StatusError):
    """FAILED_PRECONDITION: the engine the call needs is not configured, or failed to load."""


class Timeout(StatusError, TimeoutError):
    """DEADLINE_EXCEEDED: the call's deadline passed before it was answered."""


class Unreachable(StatusError, ConnectionError):
    """UNAVAILABLE after the retry policy gave up: no replica answered (down, draining, unreachable)."""


class Cancelled(StatusError):
    """CANCELLED: the call was cancelled."""


class Unsupported(StatusError):
    """UNIMPLEMENTED, NOT_FOUND: the server does not offer this call (an older server, a missing service)."""


class ServerFault(StatusError):
    """INTERNAL, UNKNOWN, DATA_LOSS and every other code: the server failed; its log says why."""


_BY_CODE: dict[grpc.StatusCode, type[StatusError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: BadRequest,
    grpc.StatusCode.OUT_OF_RANGE: BadRequest,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: Unauthenticated,
    grpc.StatusCode.RESOURCE_EXHAUSTED: LimitExceeded,
    grpc.StatusCode.FAILED_PRECONDITION: NotReady,
    grpc.StatusCode.DEADLINE_EXCEEDED: Timeout,
    grpc.StatusCode.UNAVAILABLE: Unreachable,
    grpc.StatusCode.CANCELLED: Cancelled,
    grpc.StatusCode.UNIMPLEMENTED: Unsupported,
    grpc.StatusCode.NOT_FOUND: Unsupported,
}


def status_error(exc: grpc.RpcError, rpc: str) -> StatusError:
    """The :class:`StatusError` for grpc's error ``exc`` on ``rpc`` (the one mapping of the client)."""
    if isinstance(exc, StatusError):
        return exc
    code_of = getattr(exc, "code", None)
    details_of = getattr(exc, "details", None)
    code = code_of() if callable(code_of) else None
    details = details_of() if callable(details_of) else None
    if not isinstance(code, grpc.StatusCode):
        code = grpc.StatusCode.UNKNOWN
    return _BY_CODE.get(code, ServerFault)(code, str(details or exc), rpc)
