"""``mathreward serve``'s flags take their defaults from the config dataclasses (one source of each)."""

from __future__ import annotations

import dataclasses

import pytest

from mathreward.cli import build_parser
from mathreward.commands.serve import config_from_args
from mathreward.service.config import HttpTimeouts, ServerConfig, ServiceLimits, default_of


def test_serve_without_flags_is_the_default_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MATHREWARD_TOKEN", raising=False)
    config = config_from_args(build_parser().parse_args(["serve"]))
    assert config == ServerConfig()


def test_every_limit_and_timeout_has_a_flag() -> None:
    """A new field in ServiceLimits or HttpTimeouts must get a flag, or this fails."""
    args = ["serve"]
    flags = {
        "max_message_bytes": "--max-message-bytes",
        "max_items": "--max-items",
        "max_item_chars": "--max-item-chars",
        "max_queue_depth": "--max-queue-depth",
        "max_item_timeout_s": "--max-item-timeout",
        "max_stream_in_flight": "--max-stream-in-flight",
        "max_inflight_bytes": "--max-inflight-bytes",
    }
    assert set(flags) == {f.name for f in dataclasses.fields(ServiceLimits)}
    for name, flag in flags.items():
        args += [flag, str(default_of(ServiceLimits, name) * 2)]
    timeouts = {
        "header_s": "--http-header-timeout",
        "body_s": "--http-body-timeout",
        "keepalive_s": "--http-keepalive-timeout",
    }
    assert set(timeouts) == {f.name for f in dataclasses.fields(HttpTimeouts)}
    for name, flag in timeouts.items():
        args += [flag, str(default_of(HttpTimeouts, name) * 2)]
    config = config_from_args(build_parser().parse_args(args))
    for name in flags:
        assert getattr(config.limits, name) == default_of(ServiceLimits, name) * 2, name
    for name in timeouts:
        assert getattr(config.http_timeouts, name) == default_of(HttpTimeouts, name) * 2, name


def test_default_of_reads_factories_and_refuses_unknown_fields() -> None:
    assert default_of(ServerConfig, "limits") == ServiceLimits()
    assert default_of(ServiceLimits, "max_items") == ServiceLimits().max_items
    with pytest.raises(AttributeError):
        default_of(ServiceLimits, "no_such_field")
