"""Retrieval on the demo course's labelled question -> passage set (English and Korean)."""

from __future__ import annotations

from apis.tutor.retrieval import PassageIndex, split_lesson
from cli.demo_courses import LESSON_BODY
from cli.demo_tutor import LABELLED, TUTOR_LESSONS


def demo_index() -> PassageIndex:
    lessons = [("Halves and quarters", LESSON_BODY), *TUTOR_LESSONS]
    passages = []
    for n, (title, body) in enumerate(lessons):
        passages.extend(split_lesson(f"lesson-{n}", title, body))
    return PassageIndex(passages)


def recall_at(k: int) -> float:
    index = demo_index()
    hits = 0
    for question, lesson, section in LABELLED:
        found = [(p.lesson_title, p.section) for p in index.search(question, k)]
        hits += (lesson, section) in found
    return hits / len(LABELLED)


def test_every_label_names_a_real_passage() -> None:
    index = demo_index()
    have = {(p.lesson_title, p.section) for p in index.passages}
    assert {(lesson, section) for _, lesson, section in LABELLED} <= have
    assert any(q for q, _, _ in LABELLED if not q.isascii())  # Korean questions are in the set


def test_recall_at_5_on_the_labelled_set() -> None:
    # A discrete outcome on a fixed corpus (no timing): most questions find their passage.
    assert recall_at(5) >= 0.9
