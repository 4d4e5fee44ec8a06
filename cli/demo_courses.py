"""Demo content for courses, media and assignments, seeded through the HTTP API like the rest of
the demo school: per class a course with a lesson holding a PDF workbook and an image (uploaded
through presigned URLs), the lesson, the class's exam and a written task as assignments, and one
student who studies the lesson and hands in the task."""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

LESSON_BODY = """# Fractions: halves and quarters

A **half** is one of two equal parts; a **quarter** one of four.

| fraction | of 12 |
|---|---|
| 1/2 | 6 |
| 1/4 | 3 |

Open the workbook (PDF) and look at the picture before the quiz.
"""


def workbook_pdf(title: str) -> bytes:
    """A small valid one-page PDF with a line of text."""
    text = f"BT /F1 18 Tf 72 720 Td ({title}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer << /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return out


def picture_png(width: int = 64, height: int = 32) -> bytes:
    """A PNG of a bar split in two halves (left blue, right orange)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    row = b"\x00" + (b"\x1f\x77\xb4" * (width // 2)) + (b"\xff\x7f\x0e" * (width - width // 2))
    raw = row * height
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@dataclass
class DemoCourse:
    course_id: str
    lesson_id: str
    task_id: str


def _ok(reply: httpx.Response) -> Any:
    reply.raise_for_status()
    return reply.json()


def upload(
    api: httpx.Client,
    who: dict[str, str],
    holder: tuple[str, str],
    name: str,
    kind: str,
    body: bytes,
) -> str:
    ticket = _ok(
        api.post(
            "/api/v1/media/uploads",
            json={
                "holder_type": holder[0],
                "holder_id": holder[1],
                "filename": name,
                "content_type": kind,
                "size_bytes": len(body),
                "sha256": hashlib.sha256(body).hexdigest(),
            },
            headers=who,
        )
    )
    httpx.put(ticket["upload_url"], content=body, headers=ticket["headers"]).raise_for_status()
    _ok(api.post(f"/api/v1/media/{ticket['media_id']}/finalise", headers=who))
    return str(ticket["media_id"])


def add_figure(api: httpx.Client, teacher: dict[str, str], item_id: str) -> str:
    """A figure on an item, through the media path (shown with the item once an exam does)."""
    figure = upload(api, teacher, ("item", item_id), "figure.png", "image/png", picture_png(48, 48))
    api.patch(
        f"/api/v1/items/{item_id}",
        json={"media": [{"media_id": figure, "alt": "A square cut in half"}]},
        headers=teacher,
    ).raise_for_status()
    return figure


def seed_course(
    api: httpx.Client, teacher: dict[str, str], class_id: str, exam_id: str, n: int
) -> DemoCourse:
    """The class's course, its published lesson with two files, and three assignments."""
    course = _ok(
        api.post(
            "/api/v1/courses",
            json={"title": f"Fractions ({n})", "description": "Halves and quarters"},
            headers=teacher,
        )
    )
    cid = course["course_id"]
    unit = _ok(
        api.post(
            f"/api/v1/courses/{cid}/units", json={"title": "Parts of a whole"}, headers=teacher
        )
    )
    lesson = _ok(
        api.post(
            f"/api/v1/units/{unit['unit_id']}/lessons",
            json={"title": "Halves and quarters", "body": LESSON_BODY},
            headers=teacher,
        )
    )
    lid = lesson["lesson_id"]
    files = [
        upload(
            api,
            teacher,
            ("lesson", lid),
            "workbook.pdf",
            "application/pdf",
            workbook_pdf("Fractions workbook"),
        ),
        upload(api, teacher, ("lesson", lid), "halves.png", "image/png", picture_png()),
    ]
    api.patch(
        f"/api/v1/lessons/{lid}", json={"attachments": files}, headers=teacher
    ).raise_for_status()
    api.post(f"/api/v1/lessons/{lid}/publish", headers=teacher).raise_for_status()
    api.post(
        f"/api/v1/courses/{cid}/classes", json={"class_id": class_id}, headers=teacher
    ).raise_for_status()
    now = datetime.now(UTC)
    window = {
        "class_id": class_id,
        "open_at": (now - timedelta(days=1)).isoformat(),
        "due_at": (now + timedelta(days=7)).isoformat(),
    }
    for body in (
        {"kind": "lesson", "lesson_id": lid, "title": "Read: halves and quarters", "points": 5},
        {"kind": "exam", "exam_id": exam_id, "title": "Unit test", "points": 20},
    ):
        api.post("/api/v1/assignments", json={**window, **body}, headers=teacher).raise_for_status()
    task = _ok(
        api.post(
            "/api/v1/assignments",
            json={**window, "kind": "task", "title": "Explain a quarter in your words",
                  "accepts_text": True, "accepts_files": True, "late_policy": "flag", "points": 10},
            headers=teacher,
        )
    )  # fmt: skip
    return DemoCourse(cid, lid, task["assignment_id"])


def study(api: httpx.Client, student: dict[str, str], course: DemoCourse) -> None:
    """A student reads the lesson, finishes it and hands in the task."""
    api.get(f"/api/v1/lessons/{course.lesson_id}", headers=student).raise_for_status()
    for report in ({"progress": 0.5, "seconds": 180}, {"completed": True, "seconds": 120}):
        api.post(
            f"/api/v1/lessons/{course.lesson_id}/progress", json=report, headers=student
        ).raise_for_status()
    api.post(
        f"/api/v1/assignments/{course.task_id}/submissions",
        json={"body": "A quarter is one of four equal parts: 3 of 12."},
        headers=student,
    ).raise_for_status()
