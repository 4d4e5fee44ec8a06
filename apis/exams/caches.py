"""The exams service's in-process caches, one set per app, held on the app state
(`AppState.exams`) and handed to what needs them; nothing is cached at module level."""

from __future__ import annotations

from typing import Any

from cachetools import LRUCache
from redis.asyncio import Redis

from apis.exams.cat_cache import LOCAL_SIZE, CatCache
from psychometrics import CATBank


class ExamCaches:
    def __init__(self, redis: Redis) -> None:
        # exam id → its delivery (the exam and its pool at the pinned versions: immutable)
        self.exams: LRUCache[str, Any] = LRUCache(maxsize=256)
        # bank key (exam + parameter set digest) → CATBank
        self.banks: LRUCache[str, CATBank] = LRUCache(maxsize=64)
        # attempt id → its exam's delivery, from the first time this process loaded it
        self.attempts: LRUCache[str, Any] = LRUCache(maxsize=LOCAL_SIZE)
        # adaptive attempts' CAT state: this process, then Redis
        self.cat = CatCache(redis)
