"""What the API process holds for its lifetime, built once at start-up and closed at shutdown."""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis

from apis.exams.caches import ExamCaches
from apis.gateway.metrics import Metrics
from apis.gateway.policy import PolicyGate
from apis.gateway.rate_limit import RateCounters
from apis.gateway.revocations import RevocationMirror
from apis.notifications.wakes import WakeHub
from apis.tutor.runtime import TutorRuntime
from core.db import Pool
from core.media import MediaStore
from core.sessions import AuthService
from core.settings import Settings


@dataclass
class AppState:
    settings: Settings
    pool: Pool
    redis: Redis
    policy: PolicyGate
    metrics: Metrics
    revocations: RevocationMirror | None = None
    rate_counters: RateCounters | None = None
    auth: AuthService | None = None  # sign-in, refresh, sign-out (core.sessions)
    # The exams service's caches (exams, CAT banks, CAT state): one set per app, on its Redis.
    exams: ExamCaches = field(init=False)
    # Presigned URLs and object checks for media (no connection is made until first use).
    media: MediaStore = field(init=False)
    # The tutor's model client, breaker and passage indexes (apis/tutor/runtime.py).
    tutor: TutorRuntime = field(init=False)
    # Notification streams' wake-ups: one Redis subscription for the process (started on use).
    wakes: WakeHub = field(init=False)

    def __post_init__(self) -> None:
        self.exams = ExamCaches(self.redis)
        self.media = MediaStore(self.settings)
        self.tutor = TutorRuntime(self.settings, self.metrics.registry)
        self.wakes = WakeHub(self.redis, self.settings.realtime.stream_prefix)
