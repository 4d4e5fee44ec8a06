"""The model's circuit breaker (purgatory), its state shared by the replicas through Redis.

After `threshold` failures in a row the circuit opens: turns answer with the grounded fallback
at once, without waiting for a dead or hanging server. After `ttl` seconds the next turn tries
the model again (half-open): a success closes the circuit, a failure opens it again. The state
and every failure are Prometheus metrics (`dreamseed_tutor_breaker_state`: 0 closed,
1 half-open, 2 open; `dreamseed_tutor_model_failures_total{kind}`).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from purgatory import AsyncCircuitBreakerFactory, AsyncInMemoryUnitOfWork, AsyncRedisUnitOfWork
from purgatory.domain.model import OpenedState
from purgatory.service._async.circuitbreaker import AsyncCircuitBreaker

STATE_VALUES = {"closed": 0, "half-opened": 1, "opened": 2}
CircuitOpen = OpenedState


class TutorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.breaker_state = Gauge(
            "dreamseed_tutor_breaker_state",
            "Tutor model circuit breaker: 0 closed, 1 half-open, 2 open",
            registry=registry,
        )
        self.model_failures = Counter(
            "dreamseed_tutor_model_failures_total",
            "Failed calls to the tutor's model, by kind",
            ["kind"],
            registry=registry,
        )
        self.turns = Counter(
            "dreamseed_tutor_turns_total",
            "Tutor turns by how they were answered (model, fallback, refusal) and why",
            ["kind", "reason"],
            registry=registry,
        )


class ModelBreaker:
    def __init__(
        self,
        name: str,
        threshold: int,
        ttl_seconds: float,
        metrics: TutorMetrics,
        redis_url: str | None = None,
    ) -> None:
        uow = AsyncRedisUnitOfWork(redis_url) if redis_url else AsyncInMemoryUnitOfWork()
        self.name = name
        self.metrics = metrics
        self.factory = AsyncCircuitBreakerFactory(
            default_threshold=threshold, default_ttl=ttl_seconds, uow=uow
        )
        self.factory.add_listener(self._on_event)
        self._initialized = False

    def _on_event(self, name: str, event_type: str, event: Any) -> None:
        if event_type == "state_changed":
            self.metrics.breaker_state.set(STATE_VALUES.get(str(event.state), 0))

    async def get(self) -> AsyncCircuitBreaker:
        if not self._initialized:
            await self.factory.initialize()
            self._initialized = True
        breaker = await self.factory.get_breaker(self.name)
        self.metrics.breaker_state.set(STATE_VALUES.get(breaker.context.state, 0))
        return breaker

    async def state(self) -> str:
        return (await self.get()).context.state
