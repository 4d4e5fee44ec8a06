"""The tutor in the demo: more lessons for the demo course (English and Korean), the labelled
question -> passage set retrieval is measured on (bench/tutor, tests/unit/tutor), and a student's
first question, answered without a model (the grounded fallback), shown when the demo starts."""

from __future__ import annotations

from typing import Any

import httpx

# Lessons of the demo course's second unit: (title, Markdown body). Headings are the sections a
# citation names.
TUTOR_LESSONS: tuple[tuple[str, str], ...] = (
    (
        "Equivalent fractions",
        """Two fractions are equivalent when they name the same part of a whole.

## Multiplying top and bottom

Multiply the numerator and the denominator by the same number: 1/2 = 2/4 = 3/6. The pieces get
smaller, but you take more of them, so the amount stays the same.

## Simplifying

Divide the numerator and the denominator by a common factor: 6/8 = 3/4. A fraction is in its
simplest form when the only common factor is 1.
""",
    ),
    (
        "Comparing fractions",
        """## Same denominator

With the same denominator, the larger numerator is the larger fraction: 3/8 > 2/8.

## Same numerator

With the same numerator, the smaller denominator is the larger fraction: 1/3 > 1/5, because
thirds are bigger pieces than fifths.

## Common denominator

Otherwise rewrite both with a common denominator first: compare 2/3 and 3/4 as 8/12 and 9/12.
""",
    ),
    (
        "Adding and subtracting fractions",
        """## Like denominators

Add or subtract the numerators and keep the denominator: 2/7 + 3/7 = 5/7.

## Unlike denominators

Find a common denominator (the least common multiple), rewrite, then add: 1/4 + 1/6 =
3/12 + 2/12 = 5/12. Never add the denominators.
""",
    ),
    (
        "Mixed numbers",
        """A mixed number is a whole number and a proper fraction, like 2 1/3.

## Improper fractions

An improper fraction has a numerator larger than its denominator: 7/3. Divide to turn it into a
mixed number: 7 ÷ 3 = 2 remainder 1, so 7/3 = 2 1/3.

## Back to an improper fraction

Multiply the whole number by the denominator and add the numerator: 2 1/3 = (2 × 3 + 1)/3 = 7/3.
""",
    ),
    (
        "분수의 곱셈",
        """분수끼리 곱할 때는 분자는 분자끼리, 분모는 분모끼리 곱합니다.

## 분수 곱하기 분수

2/3 × 3/5 = 6/15 이고, 약분하면 2/5 입니다. 곱하기 전에 약분해도 결과는 같습니다.

## 자연수 곱하기 분수

자연수는 분모가 1인 분수로 생각합니다. 4 × 2/3 = 8/3 = 2와 2/3 입니다.
""",
    ),
    (
        "분수의 나눗셈",
        """## 역수 곱하기

분수로 나눌 때는 나누는 수의 역수를 곱합니다. 역수는 분자와 분모를 바꾼 수입니다:
3/4 ÷ 1/2 = 3/4 × 2/1 = 3/2.

## 왜 역수를 곱할까요

1/2로 나누는 것은 '1/2이 몇 번 들어가는가'를 묻는 것이므로 2를 곱하는 것과 같습니다.
""",
    ),
)

# The labelled set: a question and the (lesson title, section) that answers it.
LABELLED: tuple[tuple[str, str, str], ...] = (
    ("How do I make an equivalent fraction?", "Equivalent fractions", "Multiplying top and bottom"),
    ("Is 2/4 the same amount as 1/2?", "Equivalent fractions", "Multiplying top and bottom"),
    ("How do I simplify 6/8?", "Equivalent fractions", "Simplifying"),
    ("When is a fraction in its simplest form?", "Equivalent fractions", "Simplifying"),
    ("Which is bigger, 3/8 or 2/8?", "Comparing fractions", "Same denominator"),
    ("Why is 1/3 bigger than 1/5?", "Comparing fractions", "Same numerator"),
    ("How do I compare 2/3 and 3/4?", "Comparing fractions", "Common denominator"),
    ("How do I add 2/7 and 3/7?", "Adding and subtracting fractions", "Like denominators"),
    ("Can I add the denominators when adding 1/4 + 1/6?", "Adding and subtracting fractions",
     "Unlike denominators"),
    ("What is a least common multiple used for when adding fractions?",
     "Adding and subtracting fractions", "Unlike denominators"),
    ("How do I turn 7/3 into a mixed number?", "Mixed numbers", "Improper fractions"),
    ("What is an improper fraction?", "Mixed numbers", "Improper fractions"),
    ("How do I write 2 1/3 as an improper fraction?", "Mixed numbers",
     "Back to an improper fraction"),
    ("What is one of two equal parts called?", "Halves and quarters",
     "Fractions: halves and quarters"),
    ("분수끼리 곱하는 방법을 알려 주세요", "분수의 곱셈", "분수 곱하기 분수"),
    ("자연수와 분수를 곱하려면 어떻게 해요?", "분수의 곱셈", "자연수 곱하기 분수"),
    ("분수로 나누는 방법은 무엇인가요?", "분수의 나눗셈", "역수 곱하기"),
    ("역수가 뭐예요?", "분수의 나눗셈", "역수 곱하기"),
    ("왜 나눗셈에서 역수를 곱해요?", "분수의 나눗셈", "왜 역수를 곱할까요"),
    ("약분은 곱하기 전에 해도 되나요?", "분수의 곱셈", "분수 곱하기 분수"),
)  # fmt: skip

DEMO_QUESTION = "How do I compare 2/3 and 3/4?"


def _ok(reply: httpx.Response) -> Any:
    reply.raise_for_status()
    return reply.json()


def seed_tutor_lessons(api: httpx.Client, teacher: dict[str, str], course_id: str) -> None:
    """A second unit of published lessons the tutor retrieves from."""
    unit = _ok(
        api.post(
            f"/api/v1/courses/{course_id}/units",
            json={"title": "Working with fractions"},
            headers=teacher,
        )
    )
    for title, body in TUTOR_LESSONS:
        lesson = _ok(
            api.post(
                f"/api/v1/units/{unit['unit_id']}/lessons",
                json={"title": title, "body": body},
                headers=teacher,
            )
        )
        api.post(
            f"/api/v1/lessons/{lesson['lesson_id']}/publish", headers=teacher
        ).raise_for_status()


def ask_tutor(api: httpx.Client, student: dict[str, str], class_id: str, question: str) -> str:
    """Open a conversation, ask, and return the streamed answer with its citations."""
    conversation = _ok(
        api.post("/api/v1/tutor/conversations", json={"class_id": class_id}, headers=student)
    )
    pieces: list[str] = []
    done: dict[str, Any] = {}
    with api.stream(
        "POST",
        f"/api/v1/tutor/conversations/{conversation['conversation_id']}/messages",
        json={"text": question},
        headers=student,
    ) as reply:
        reply.raise_for_status()
        event = ""
        for line in reply.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = httpx.Response(200, content=line[5:].strip()).json()
                if event == "token":
                    pieces.append(data["text"])
                elif event == "done":
                    done = data
    return f"{''.join(pieces)}\n({done.get('kind')}: {done.get('reason')})"
