"""The blocking client: the core's calls sent on a ``grpc`` channel."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

import grpc

from mathreward.client.core import Call, ClientCore, StreamCall, mapped_errors, not_ready, serving, watching
from verifier.verdict import Verdict

T = TypeVar("T")


class Client(ClientCore):
    """A blocking client; thread-safe (one channel, shared by the threads that use it).

    ``with Client("localhost:50051") as client: client.verify(response, reference)``. The options are
    :class:`~mathreward.client.core.ClientCore`'s; the errors are in :mod:`mathreward.client.errors`.
    """

    _grpc = grpc

    def _send(self, call: Call[T]) -> T:
        rpc = self._rpcs[call.rpc]
        with mapped_errors(call.rpc):
            return call.read([rpc(r, **self._call_options(call.timeout)) for r in call.requests])

    def _stream(self, call: StreamCall) -> Iterator[tuple[int, Verdict]]:
        with mapped_errors("VerifyStream"):
            for response in self._rpcs["VerifyStream"](call.requests, **self._call_options(call.timeout)):
                yield call.answer(response)
        call.finish()

    def wait_ready(self, service: str = "", *, timeout: float = 60.0) -> None:
        """Block until ``service`` reports SERVING (the PRM loaded, say); TimeoutError past ``timeout``."""
        request, options = self._watch(service, timeout)
        responses = self._rpcs["Watch"](request, **options)
        with watching(service, timeout, responses):
            if any(serving(r) for r in responses):
                return
        raise not_ready(service, timeout)

    def close(self) -> None:
        """Close the channel; calls in flight are cancelled."""
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
