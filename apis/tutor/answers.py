"""What the tutor says: the model's prompt, the grounded fallback, and refusals.

The prompt carries only what `apis.tutor.context` loaded after the policy: cited passages and,
for a finished exam item, that item. Everything in it has been scrubbed of names and e-mails.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from apis.tutor.context import FinishedItem
from apis.tutor.retrieval import Passage
from apis.tutor.text import scrub, tokens

FALLBACK_LABEL = "[Grounded fallback: no language model answered. From your course:]"
FALLBACK_LABEL_KO = "[대체 답변: 언어 모델이 응답하지 않았습니다. 수업 자료에서 찾은 내용:]"
# Without consent for external models (privacy.consent) nothing was sent to the model.
NO_CONSENT_LABEL = (
    "[Grounded fallback: your questions are not sent to a language model (consent for external"
    " models is not given). From your course:]"
)
NO_CONSENT_LABEL_KO = (
    "[대체 답변: 외부 언어 모델 사용에 동의하지 않아 질문을 모델에 보내지 않았습니다."
    " 수업 자료에서 찾은 내용:]"
)
EXCERPT_CHARS = 320
_HANGUL = re.compile(r"[\uac00-\ud7a3]")

REFUSALS = {
    "tutor_off_during_exam": "Your teacher has turned the tutor off while you have an exam in"
    " progress. Finish the exam first, then ask me again.",
    "active_exam_item": "That item belongs to an exam you are taking right now, so I cannot help"
    " with it until you have finished the exam.",
    "quotes_active_item": "Your question quotes an item of an exam you are taking right now, so I"
    " cannot help with it until you have finished the exam.",
    "answer_quoted_active_item": "I stopped that answer: it quoted an item of an exam you are"
    " taking right now.",
    "exam_in_progress": "The tutor gives no answers while you have an exam in progress.",
}

MODES = {
    "hints_only": "Give hints and guiding questions only; never give a complete worked solution.",
    "open": "Explain fully; worked examples are welcome.",
    "off_during_exams": "Explain fully; worked examples are welcome.",
}


def is_korean(text: str) -> bool:
    return bool(_HANGUL.search(text))


def refusal(reason: str) -> str:
    return REFUSALS.get(reason, f"I cannot help with that right now ({reason}).")


def cite(passage: Passage) -> str:
    return f"[{passage.lesson_title} › {passage.section}]"


def item_block(item: FinishedItem, names: Sequence[str]) -> str:
    lines = [f"Exam item (the student has finished this exam): {scrub(item.stem, names)}"]
    for n, option in enumerate(item.options):
        lines.append(f"  option {n}: {scrub(option, names)}")
    if item.answer_key is not None and 0 <= item.answer_key < len(item.options):
        lines.append(f"Correct option: {item.answer_key} ({item.options[item.answer_key]})")
    elif item.answer_key is None:
        lines.append("The correct option is withheld (hints only): guide her to find it.")
    if item.choice is not None:
        lines.append(f"The student chose option {item.choice}.")
    if item.is_correct is not None:
        lines.append(f"Her answer was {'correct' if item.is_correct else 'not correct'}.")
    return "\n".join(lines)


def prompt(
    question: str,
    passages: Sequence[Passage],
    item: FinishedItem | None,
    mode: str,
    names: Sequence[str],
) -> list[dict[str, str]]:
    """OpenAI chat messages: the rules, the grounding, then the student's (scrubbed) question."""
    sources = "\n\n".join(f"{cite(p)}\n{scrub(p.text, names)}" for p in passages)
    system = (
        "You are a patient tutor for a student of a school course. Answer only from the course"
        " passages below and cite each passage you use by its [lesson › section] label."
        f" {MODES.get(mode, MODES['hints_only'])} Answer in the language of the question."
        "\n\nCourse passages:\n" + (sources or "(none found)")
    )
    if item is not None:
        system += "\n\n" + item_block(item, names)
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": scrub(question, names)},
    ]


def _key_terms(question: str, passage: Passage) -> list[str]:
    wanted = set(tokens(question))
    return [t for t in dict.fromkeys(tokens(passage.section + " " + passage.text)) if t in wanted]


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[:EXCERPT_CHARS].rsplit(" ", 1)[0] + " …"


def guiding_question(question: str, passages: Sequence[Passage]) -> str:
    korean = is_korean(question)
    if not passages:
        if korean:
            return "어느 단원에 관한 질문인지 알려 주겠어요? 수업 자료에서 찾아볼게요."
        return "Which lesson is your question about? Tell me, and I will look there."
    first = passages[0]
    terms = ", ".join(_key_terms(question, first)[:3])
    if korean:
        return f"'{first.section}' 부분을 다시 읽고, {terms or '핵심 개념'}을(를) 자신의 말로 설명해 볼까요?"
    about = f" about {terms}" if terms else ""
    return (
        f"What does the section “{first.section}” say{about}? Try to explain it in your own words."
    )


def fallback(
    question: str,
    passages: Sequence[Passage],
    item: FinishedItem | None,
    reason: str = "no_model",
) -> str:
    """An honest answer without a model: the best passages, cited, and a guiding question,
    labelled (without consent, it says that nothing was sent)."""
    korean = is_korean(question)
    if reason == "no_consent":
        parts = [NO_CONSENT_LABEL_KO if korean else NO_CONSENT_LABEL]
    else:
        parts = [FALLBACK_LABEL_KO if korean else FALLBACK_LABEL]
    if item is not None and item.answer_key is not None and item.answer_key < len(item.options):
        chosen = (
            item.options[item.choice]
            if item.choice is not None and 0 <= item.choice < len(item.options)
            else "no answer"
        )
        parts.append(
            f"On “{item.stem}” the correct answer is “{item.options[item.answer_key]}”;"
            f" you chose “{chosen}”."
        )
    elif item is not None and item.is_correct is not None:  # the key withheld (hints only)
        verdict = "correct" if item.is_correct else "not correct"
        parts.append(f"On “{item.stem}” your answer was {verdict}; let us work out why.")
    for passage in passages[:3]:
        parts.append(f"{cite(passage)} {_excerpt(passage.text)}")
    if not passages and item is None:
        parts.append("I found nothing in your course about this yet.")
    parts.append(guiding_question(question, passages))
    return "\n\n".join(parts)
