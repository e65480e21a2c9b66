"""The server-wide budget of request bytes held in memory by calls in flight (both protocols).

A unary gRPC call holds its request's size from the moment its handler starts until it is answered; a
VerifyStream holds each message's size until every item of that message has been sent back; an HTTP
call holds its body's ``Content-Length`` (or, without one, the largest body allowed) until it is
answered. A call that would take the total over ``ServiceLimits.max_inflight_bytes`` is refused at once
with RESOURCE_EXHAUSTED (gRPC) or 503 (HTTP); nothing waits for room, so a client that never reads
cannot make others wait, only refused.
"""

from __future__ import annotations

from mathreward.service.errors import OverBudget
from mathreward.service.prometheus import Metrics


class ByteBudget:
    """Bytes reserved by calls in flight, at most ``limit`` together."""

    def __init__(self, limit: int, metrics: Metrics | None = None) -> None:
        self.limit = limit
        self.used = 0
        self._gauge = metrics.inflight_bytes if metrics is not None else None

    def reserve(self, n: int, what: str = "request") -> int:
        """Take ``n`` bytes or raise ResourceExhausted (nothing taken); returns ``n`` for release."""
        if n < 0:
            raise ValueError(f"cannot reserve {n} bytes")
        if self.used + n > self.limit:
            raise OverBudget(
                f"the server holds {self.used} bytes of requests in flight (limit {self.limit}) and this "
                f"{what} adds {n}; retry later or on another replica"
            )
        self.used += n
        self._set()
        return n

    def release(self, n: int) -> None:
        self.used -= n
        self._set()

    def _set(self) -> None:
        if self._gauge is not None:
            self._gauge.set(self.used)


class StreamHold:
    """The bytes of one stream message, released when the last of its ``items`` has been sent."""

    def __init__(self, budget: ByteBudget, nbytes: int) -> None:
        self._budget = budget
        self._bytes = budget.reserve(nbytes, "stream message")
        self._items = 0
        self._read = False  # every item of the message has been taken out of it

    def add(self, n: int = 1) -> None:
        self._items += n

    def done(self, n: int = 1) -> None:
        self._items -= n
        self._maybe_release()

    def read_all(self) -> None:
        self._read = True
        self._maybe_release()

    @property
    def finished(self) -> bool:
        """Every item of the message was taken out of it and sent back; its bytes are released."""
        return self._read and self._items <= 0

    def _maybe_release(self) -> None:
        if self.finished and self._bytes:
            self._budget.release(self._bytes)
            self._bytes = 0

    def release_all(self) -> None:
        """For a call that ends early (cancelled, failed): give back what is still held."""
        if self._bytes:
            self._budget.release(self._bytes)
            self._bytes = 0
