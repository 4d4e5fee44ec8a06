"""Prometheus metrics of the API, in a registry of the app's own (several apps may share a process).

`labels(...)` costs a lock and a tuple build per call; the hot paths use the `*_child` helpers,
which keep the labelled children in plain dicts (route template × method × status; the dict is
capped, since unmatched paths are reported under their raw path).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "dreamseed_http_requests_total",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "dreamseed_http_request_seconds",
            "HTTP request latency by route",
            ["route", "method"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.policy_decisions = Counter(
            "dreamseed_policy_decisions_total",
            "Policy decisions by action and result",
            ["action", "allowed"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "dreamseed_rate_limited_total",
            "Requests refused by the rate limiter",
            ["scope"],
            registry=self.registry,
        )
        self.rate_limited_skipped = self.rate_limited.labels("skipped_redis_down")
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._decision_children: dict[tuple[str, bool], Any] = {}

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route, method),
            )
            if len(self._request_children) < 10_000:  # bound memory if routes ever explode
                self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def count_decision(self, action: str, allowed: bool) -> None:
        child = self._decision_children.get((action, allowed))
        if child is None:
            child = self.policy_decisions.labels(action, "true" if allowed else "false")
            self._decision_children[(action, allowed)] = child
        child.inc()
