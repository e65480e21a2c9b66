"""Clients of the gRPC service with the shapes of the Python functions.

    from mathreward import Client

    with Client("localhost:50051") as client:          # or ["10.0.0.1:50051", "10.0.0.2:50051"]
        verdict = client.verify("... so the answer is $\\boxed{\\frac12}$", "0.5")     # a Verdict
        verdicts = client.verify_batch([(pred, ref), ...])                           # list[Verdict]
        scores = client.score_steps(question, steps)                                 # a StepScores
        reward = client.score(prompt, response, reference)                           # a Reward

:class:`AsyncClient` has the same methods as coroutines. Both are one core
(:class:`~mathreward.client.core.ClientCore`: the options, the channel, each call built once) with two
thin send paths. Every call has a deadline (``timeout``, seconds); the channel's retry policy retries
UNAVAILABLE (a replica draining, restarting, down) with backoff, on any replica. A failed call raises a
:class:`~mathreward.client.errors.StatusError` subclass chosen by its status code (the tree is drawn in
:mod:`mathreward.client.errors`); an item the server refused inside a batch is an :class:`ItemError`
(raised by the single-item methods, an ERROR verdict in ``verify_batch``); a stream that ends without
an answer for every item raises :class:`StreamIncomplete`.
"""

from mathreward.client import errors
from mathreward.client.aio import AsyncClient
from mathreward.client.core import Reward
from mathreward.client.errors import *  # noqa: F403  (the exception tree, listed in errors.__all__)
from mathreward.client.sync import Client

__all__ = ["AsyncClient", "Client", "Reward", *errors.__all__]
