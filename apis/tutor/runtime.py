"""What the tutor keeps for the life of an API process: the model client and its breaker, the
optional embedding backend, and one passage index per class (rebuilt when its lessons change)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import numpy as np
from prometheus_client import CollectorRegistry

from apis.tutor.breaker import ModelBreaker, TutorMetrics
from apis.tutor.model import ChatClient, ModelConfig, http_client
from apis.tutor.retrieval import Passage, PassageIndex
from core.settings import Settings

INDEX_CACHE_SIZE = 256


def model_config(settings: Settings) -> ModelConfig:
    return ModelConfig(
        url=settings.tutor.model_url,
        model=settings.tutor.model or "default",
        key=settings.tutor.model_key,
        connect_seconds=settings.tutor.connect_timeout_ms / 1000,
        first_token_seconds=settings.tutor.first_token_timeout_ms / 1000,
        total_seconds=settings.tutor.total_timeout_ms / 1000,
    )


class Embeddings:
    """An OpenAI-compatible /embeddings backend; vectors are normalised to unit length."""

    def __init__(self, url: str, model: str, key: str, http: httpx.AsyncClient) -> None:
        self.url = url.rstrip("/") + "/embeddings"
        self.model = model or "default"
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.http = http

    async def embed(self, texts: list[str]) -> np.ndarray:
        reply = await self.http.post(
            self.url, json={"model": self.model, "input": texts}, headers=self.headers
        )
        reply.raise_for_status()
        data = sorted(reply.json()["data"], key=lambda d: d["index"])
        vectors = np.asarray([d["embedding"] for d in data], dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)


class TutorRuntime:
    def __init__(self, settings: Settings, registry: CollectorRegistry) -> None:
        self.settings = settings
        self.config = model_config(settings)
        self.metrics = TutorMetrics(registry)
        self.http = http_client(self.config)
        self.chat = ChatClient(self.config, self.http) if self.config.configured else None
        self.embeddings = (
            Embeddings(
                settings.tutor.embeddings_url,
                settings.tutor.embeddings_model,
                settings.tutor.model_key,
                self.http,
            )
            if settings.tutor.embeddings_url
            else None
        )
        shared = settings.redis_url if settings.tutor.breaker_shared else None
        self.breaker = ModelBreaker(
            # One circuit per deployment (namespace) and model endpoint.
            f"dreamseed-tutor-model:{settings.lake_namespace}:{self.config.url}",
            settings.tutor.breaker_threshold,
            settings.tutor.breaker_ttl_seconds,
            self.metrics,
            shared,
        )
        self._indexes: dict[str, tuple[str, PassageIndex]] = {}
        self._building: dict[str, asyncio.Lock] = {}

    async def index_for(self, key: str, fingerprint: str, load: Any) -> PassageIndex:
        """The cached index of `key` if its fingerprint still matches, else `await load()`
        (the passages) indexed once, even under concurrent turns."""
        cached = self._indexes.get(key)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        lock = self._building.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._indexes.get(key)
            if cached is not None and cached[0] == fingerprint:
                return cached[1]
            passages: list[Passage] = await load()
            vectors = await self._vectors(passages)
            index = await asyncio.to_thread(PassageIndex, passages, vectors)
            if len(self._indexes) >= INDEX_CACHE_SIZE:
                self._indexes.clear()
            self._indexes[key] = (fingerprint, index)
            return index

    async def _vectors(self, passages: list[Passage]) -> np.ndarray | None:
        if self.embeddings is None or not passages:
            return None
        try:
            return await self.embeddings.embed([f"{p.section}\n{p.text}" for p in passages])
        except (httpx.HTTPError, KeyError, ValueError):
            self.metrics.model_failures.labels("embeddings").inc()
            return None  # lexical only until the lessons change again

    async def query_vector(self, text: str) -> np.ndarray | None:
        if self.embeddings is None:
            return None
        try:
            vectors = await self.embeddings.embed([text])
            vector: np.ndarray = vectors[0]
            return vector
        except (httpx.HTTPError, KeyError, ValueError):
            self.metrics.model_failures.labels("embeddings").inc()
            return None  # lexical retrieval still answers

    async def aclose(self) -> None:
        await self.http.aclose()
