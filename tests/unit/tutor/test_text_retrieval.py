"""Tokens (English, Korean bigrams), placeholders, the quote guard and BM25 retrieval."""

from __future__ import annotations

from apis.tutor.retrieval import PassageIndex, split_lesson
from apis.tutor.text import QuoteGuard, scrub, tokens


def test_tokens_drop_stopwords_and_cut_hangul_into_bigrams() -> None:
    assert tokens("What is a FOR loop?") == ["is", "for", "loop"]  # Python keywords stay
    assert tokens("변수를 만들기") == ["변수", "수를", "만들", "들기"]
    assert tokens("값") == ["값"]
    # The same stem with different particles shares its bigram.
    assert set(tokens("변수는")) & set(tokens("변수를")) == {"변수"}


def test_scrub_replaces_names_and_emails() -> None:
    text = "Ask Kim Minji (minji.kim@school.test) or kim minji's friend Jo."
    out = scrub(text, ["Kim Minji", "minji.kim@school.test", "Jo"])
    assert "Minji" not in out and "@" not in out
    assert out.count("[name]") == 3 and "[email]" in out


def test_quote_guard_finds_quotes_despite_spacing_and_punctuation() -> None:
    stem = "Which keyword starts a loop that repeats while a condition holds true?"
    guard = QuoteGuard([stem, "while", "repeat-until-done"])
    assert guard.quotes("so... WHICH keyword starts a loop, that repeats while a condition")
    assert not guard.quotes("A while loop repeats as long as its condition is true.")
    assert guard.quotes("the option repeat until done is wrong")  # a whole long option
    assert not guard.quotes("while")  # short options alone are not protected
    assert not QuoteGuard([]).quotes(stem)


def test_lessons_split_at_headings_and_rank_by_bm25() -> None:
    body = "Intro text.\n\n## For loops\n\nfor visits each element.\n\n## While loops\n\nwhile repeats until false."
    passages = split_lesson("l1", "Loops", body)
    assert [p.section for p in passages] == ["Loops", "For loops", "While loops"]
    korean = split_lesson("l2", "변수", "## 변수 만들기\n\n등호로 변수에 값을 넣습니다.")
    index = PassageIndex(passages + korean)
    assert index.search("when does a while loop stop", 2)[0].section == "While loops"
    assert index.search("변수는 어떻게 만들어요", 1)[0].section == "변수 만들기"
    assert index.search("photosynthesis", 3) == []
    assert PassageIndex([]).search("anything") == []
