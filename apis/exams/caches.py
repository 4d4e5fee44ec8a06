"""The exams service's in-process caches, one set per app, held on the app state
(`AppState.exams`) and handed to what needs them; nothing is cached at module level."""

from __future__ import annotations

from redis.asyncio import Redis

from apis.exams.cat_cache import LOCAL_SIZE, CatCache
from apis.exams.lru import Lru


class ExamCaches:
    def __init__(self, redis: Redis) -> None:
        # exam id → its delivery (the exam and its pool at the pinned versions: immutable)
        self.exams = Lru(256)
        # bank key (exam + parameter set digest) → CATBank
        self.banks = Lru(64)
        # attempt id → its exam's delivery, from the first time this process loaded it
        self.attempts = Lru(LOCAL_SIZE)
        # adaptive attempts' CAT state: this process, then Redis
        self.cat = CatCache(redis)
