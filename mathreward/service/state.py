"""What every front end of one server shares: settings, limits, auth, metrics, the engines, draining.

The gRPC servicers use it, and so can the HTTP routes started in the same process
(``mathreward serve --http-port``): validate with :meth:`ServerState.check_items` and
:meth:`ServerState.item_chars_error`, build per-request verifier settings with
:meth:`ServerState.verify_config_for`, call ``state.verify.verify(...)`` / ``state.prm.score(...)``,
refuse new work while ``state.draining``, check tokens with ``state.token``, hold request bytes on
``state.budget``, and count on ``state.metrics``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from mathreward.service.auth import TokenChecker
from mathreward.service.budget import ByteBudget
from mathreward.service.config import ServerConfig
from mathreward.service.engines import PRMEngine, VerifyEngine
from mathreward.service.errors import InvalidArgument, ResourceExhausted, Unavailable
from mathreward.service.prometheus import Metrics
from verifier.config import VerifyConfig


@dataclass
class ServerState:
    """The shared parts of one running server (one per server; nothing here is global)."""

    config: ServerConfig
    metrics: Metrics = field(default_factory=Metrics)
    verify: VerifyEngine = field(init=False)
    prm: PRMEngine = field(init=False)
    token: TokenChecker | None = field(init=False)
    budget: ByteBudget = field(init=False)  # request bytes held by calls in flight, both protocols
    draining: bool = False  # set on SIGTERM: new calls are UNAVAILABLE, in-flight ones finish

    def __post_init__(self) -> None:
        self.verify = VerifyEngine(self.config, self.metrics)
        self.prm = PRMEngine(self.config, self.metrics)
        self.token = TokenChecker(self.config.token) if self.config.token is not None else None
        self.budget = ByteBudget(self.config.limits.max_inflight_bytes, self.metrics)

    def check_accepting(self) -> None:
        if self.draining:
            raise Unavailable("the server is draining (shutting down); retry on another replica")

    def check_items(self, n: int, field_name: str = "items") -> None:
        """A request's item count: at least one, at most ``max_items``."""
        if n == 0:
            raise InvalidArgument("must hold at least one item", field=field_name)
        limit = self.config.limits.max_items
        if n > limit:
            raise ResourceExhausted(
                f"{n} items, the limit per request is {limit} (split the batch)", field=field_name
            )

    def item_chars_error(self, chars: int, field_name: str) -> ResourceExhausted | None:
        """The error of an item with ``chars`` characters in all, or None when it is within the limit."""
        limit = self.config.limits.max_item_chars
        if chars > limit:
            return ResourceExhausted(f"{chars} characters, the limit per item is {limit}", field=field_name)
        return None

    def verify_config_for(self, overrides: dict[str, Any], field_name: str = "options") -> VerifyConfig:
        """The server's VerifyConfig with a request's overrides (only set fields), each checked."""
        base = self.config.verify_config
        if not overrides:
            return base
        timeout = overrides.get("timeout_s")
        if timeout is not None and not (0 < timeout <= self.config.limits.max_item_timeout_s):
            raise InvalidArgument(
                f"must be in (0, {self.config.limits.max_item_timeout_s}], got {timeout}",
                field=f"{field_name}.timeout_s",
            )
        tol = overrides.get("float_rel_tol")
        if tol is not None and not (0 <= tol < 1 and math.isfinite(tol)):
            raise InvalidArgument(f"must be in [0, 1), got {tol}", field=f"{field_name}.float_rel_tol")
        return dataclasses.replace(base, **overrides)
