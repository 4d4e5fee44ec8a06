"""Grounding: passages of the lessons a student may read, ranked for her question.

Lessons are cut into passages at their Markdown headings (a long section into ~700-character
pieces); a passage is cited as (lesson, section). Ranking is lexical BM25 (bm25s, sparse
matrices) over `apis.tutor.text.tokens` (English words, Hangul bigrams). When an embedding
backend is configured the dense ranking is fused with the lexical one (reciprocal rank fusion),
so either signal alone can surface a passage.

One index per passage set: the service keys it by a fingerprint of the lessons' published
versions, so a publish rebuilds it and nothing else does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import bm25s
import numpy as np

from apis.tutor.text import tokens

SECTION_CHARS = 700
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
RRF_K = 60


@dataclass(frozen=True, slots=True)
class Passage:
    lesson_id: str
    lesson_title: str
    section: str
    text: str
    skills: tuple[str, ...] = ()


def _pieces(text: str) -> list[str]:
    """Paragraph-aligned pieces of at most about SECTION_CHARS characters."""
    pieces: list[str] = []
    current = ""
    for paragraph in (p.strip() for p in text.split("\n\n")):
        if not paragraph:
            continue
        if current and len(current) + len(paragraph) > SECTION_CHARS:
            pieces.append(current)
            current = ""
        current = f"{current}\n\n{paragraph}" if current else paragraph
    if current:
        pieces.append(current)
    return pieces


def split_lesson(lesson_id: str, title: str, body: str) -> list[Passage]:
    """Passages of one lesson's Markdown, each named by its nearest heading (or the title)."""
    sections: list[tuple[str, list[str]]] = [(title, [])]
    for line in body.splitlines():
        heading = _HEADING.match(line)
        if heading:
            sections.append((heading.group(2), []))
        else:
            sections[-1][1].append(line)
    passages = []
    for section, lines in sections:
        for piece in _pieces("\n".join(lines)):
            passages.append(Passage(lesson_id, title, section, piece))
    return passages


class PassageIndex:
    """BM25 over a fixed list of passages; optional dense vectors (unit length) beside it."""

    def __init__(self, passages: Sequence[Passage], vectors: np.ndarray | None = None) -> None:
        self.passages = list(passages)
        self.vectors = vectors
        self._bm25: bm25s.BM25 | None = None
        if self.passages:
            corpus = [tokens(f"{p.lesson_title} {p.section} {p.text}") or [""] for p in passages]
            self._bm25 = bm25s.BM25()
            self._bm25.index(corpus, show_progress=False)

    def lexical(self, query: str, k: int) -> list[tuple[int, float]]:
        """Top-k (passage index, score) with a positive score, best first."""
        if self._bm25 is None:
            return []
        query_tokens = [t for t in tokens(query) if t in self._bm25.vocab_dict]
        if not query_tokens:
            return []
        scores = self._bm25.get_scores(query_tokens)
        return _top(scores, k)

    def dense(self, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        if self.vectors is None or not self.passages:
            return []
        return _top(self.vectors @ query_vector, k, positive=False)

    def search(
        self, query: str, k: int = 5, query_vector: np.ndarray | None = None
    ) -> list[Passage]:
        lexical = self.lexical(query, k * 4 if query_vector is not None else k)
        if query_vector is None or self.vectors is None:
            return [self.passages[i] for i, _ in lexical]
        fused: dict[int, float] = {}
        for ranking in (lexical, self.dense(query_vector, k * 4)):
            for rank, (i, _) in enumerate(ranking):
                fused[i] = fused.get(i, 0.0) + 1.0 / (RRF_K + rank + 1)
        best = sorted(fused.items(), key=lambda kv: -kv[1])[:k]
        return [self.passages[i] for i, _ in best]


def _top(scores: np.ndarray, k: int, *, positive: bool = True) -> list[tuple[int, float]]:
    if scores.size == 0:
        return []
    k = min(k, scores.size)
    candidates = np.argpartition(-scores, k - 1)[:k]
    ranked = sorted(candidates.tolist(), key=lambda i: (-float(scores[i]), i))
    return [(i, float(scores[i])) for i in ranked if not positive or scores[i] > 0]
