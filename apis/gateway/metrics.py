"""Prometheus metrics of the API, in a registry of the app's own (several apps may share a process)."""

from __future__ import annotations

from dataclasses import dataclass, field

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
