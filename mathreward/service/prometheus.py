"""Prometheus metrics of one server, on a registry of its own (two servers in a process never mix)."""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
JUDGE_OUTCOMES = ("equivalent", "not_equivalent", "invalid_answer", "unavailable")
_TOKEN_BUCKETS = (64, 256, 1024, 2048, 4096, 8192, 16384, 32768, 65536)


class Metrics:
    """The server's counters, gauges and histograms (names start with ``mathreward_``)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "mathreward_requests",
            "Calls answered, by method and final status code",
            ["method", "code"],
            registry=r,
        )
        self.in_flight = Gauge(
            "mathreward_in_flight_requests", "Calls being handled now", ["method"], registry=r
        )
        self.latency = Histogram(
            "mathreward_request_latency_seconds",
            "Wall time of a call, from handler start to its answer",
            ["method"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.items = Counter(
            "mathreward_items",
            "Items answered, by method and outcome (a verdict status, scored, error)",
            ["method", "outcome"],
            registry=r,
        )
        self.cancelled_items = Counter(
            "mathreward_cancelled_items",
            "Items never sent to an engine because their call was cancelled or its deadline passed",
            ["engine"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "mathreward_queue_depth",
            "Items admitted to an engine and not yet answered",
            ["engine"],
            registry=r,
        )
        self.batch_size = Histogram(
            "mathreward_batch_size",
            "Items per engine call (verify_batch chunk, PRM model batch)",
            ["engine"],
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.batch_tokens = Histogram(
            "mathreward_prm_batch_tokens",
            "Estimated tokens per PRM model batch",
            buckets=_TOKEN_BUCKETS,
            registry=r,
        )
        self.engine_latency = Histogram(
            "mathreward_engine_seconds",
            "Wall time of one engine call",
            ["engine"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.judge_calls = Counter(
            "mathreward_judge_calls",
            "Verdicts on which the LLM second opinion was consulted, by its answer (or unavailable)",
            ["outcome"],
            registry=r,
        )
        self.timeouts = Counter(
            "mathreward_timeouts",
            "Timeouts: items that overran their time limit (verify) and calls past their deadline (deadline)",
            ["kind"],
            registry=r,
        )
        self.inflight_bytes = Gauge(
            "mathreward_inflight_request_bytes",
            "Request bytes held by calls in flight, both protocols (limit: ServiceLimits.max_inflight_bytes)",
            registry=r,
        )
        self.auth_failures = Counter(
            "mathreward_auth_failures", "Calls refused for a missing or wrong bearer token", registry=r
        )
        for outcome in JUDGE_OUTCOMES:  # every series exists from the start, at 0
            self.judge_calls.labels(outcome=outcome)
        for kind in ("verify", "deadline"):
            self.timeouts.labels(kind=kind)
        self.prm_ready = Gauge("mathreward_prm_ready", "1 when the PRM weights are loaded", registry=r)
        self._http: Any = None
        self._thread: threading.Thread | None = None

    def serve(self, port: int, host: str) -> int:
        """Expose ``/metrics`` over HTTP on ``host:port`` (0: a free port) in a thread; returns the port."""
        self._http, self._thread = start_http_server(port, addr=host, registry=self.registry)
        return int(self._http.server_port)

    def close(self) -> None:
        """Stop the metrics endpoint, if one was started."""
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
