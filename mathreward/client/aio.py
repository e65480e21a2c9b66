"""The asyncio client: the core's calls awaited on a ``grpc.aio`` channel (made in the running loop)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeVar

import grpc

from mathreward.client.core import Call, ClientCore, StreamCall, mapped_errors, not_ready, serving, watching
from verifier.verdict import Verdict

T = TypeVar("T")


class AsyncClient(ClientCore):
    """The asyncio client: the methods of :class:`~mathreward.Client` as coroutines (same arguments).

    A grpc.aio channel belongs to the event loop it was made in: make the client inside the loop that
    uses it (``async with AsyncClient(target) as client: await client.verify(...)``).
    """

    _grpc = grpc.aio

    async def _send(self, call: Call[T]) -> T:
        rpc = self._rpcs[call.rpc]
        with mapped_errors(call.rpc):
            return call.read([await rpc(r, **self._call_options(call.timeout)) for r in call.requests])

    async def _stream(self, call: StreamCall) -> AsyncIterator[tuple[int, Verdict]]:
        with mapped_errors("VerifyStream"):
            async for response in self._rpcs["VerifyStream"](
                call.requests, **self._call_options(call.timeout)
            ):
                yield call.answer(response)
        call.finish()

    async def wait_ready(self, service: str = "", *, timeout: float = 60.0) -> None:
        """Wait until ``service`` reports SERVING (the PRM has loaded, say); TimeoutError past ``timeout``."""
        request, options = self._watch(service, timeout)
        responses = self._rpcs["Watch"](request, **options)
        with watching(service, timeout, responses):
            async for response in responses:
                if serving(response):
                    return
        raise not_ready(service, timeout)

    async def close(self) -> None:
        """Close the channel; calls in flight are cancelled."""
        await self._channel.close(None)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
