"""Media objects on S3 (MinIO in production, SeaweedFS locally) through the `minio` client.

The API never streams a file body: it issues a presigned PUT once the policy and the per-type
limits allow the declared upload, then finalises it by checking the stored object (size, content
type, leading bytes and SHA-256, computed by reading the object: SeaweedFS neither verifies nor
returns `x-amz-checksum-sha256`, so the server-side checksum headers cannot be relied on), and
hands out short-lived presigned GETs. Objects live under `media/<namespace>/` in the lake bucket.
Presigning is local computation (the region is given, so no request is made).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import psycopg
from minio import Minio
from minio.error import S3Error

from core.events import MediaPurgedV1
from core.outbox import append_sync
from core.settings import Settings

MiB: Final = 1024 * 1024

#: Declared content type -> media kind. Anything else is refused.
CONTENT_TYPES: Final[dict[str, str]] = {
    "image/png": "image",
    "image/jpeg": "image",
    "image/gif": "image",
    "image/webp": "image",
    "audio/mpeg": "audio",
    "audio/ogg": "audio",
    "audio/wav": "audio",
    "audio/mp4": "audio",
    "audio/webm": "audio",
    "video/mp4": "video",
    "video/webm": "video",
    "application/pdf": "pdf",
}
#: Largest accepted object per kind, in bytes.
SIZE_LIMITS: Final[dict[str, int]] = {
    "image": 10 * MiB,
    "audio": 50 * MiB,
    "video": 500 * MiB,
    "pdf": 50 * MiB,
}
# Leading bytes a file of the type must start with (types with a fixed signature).
_SIGNATURES: Final[dict[str, tuple[bytes, ...]]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/pdf": (b"%PDF-",),
}
_CHUNK = 1 * MiB


@dataclass(frozen=True, slots=True)
class StoredObject:
    size: int
    content_type: str
    sha256: str
    head: bytes


def signature_matches(content_type: str, head: bytes) -> bool:
    """Does the file start as a file of its declared type does? (WebP: RIFF....WEBP.)"""
    if content_type == "image/webp":
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    signatures = _SIGNATURES.get(content_type)
    return signatures is None or any(head.startswith(s) for s in signatures)


class MediaStore:
    """Presigned URLs and object checks for one bucket and namespace."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.bucket = settings.lake_bucket
        self.prefix = f"media/{settings.lake_namespace}/"
        self._client: Minio | None = None

    @property
    def configured(self) -> bool:
        return self.settings.uses_s3

    @property
    def client(self) -> Minio:
        if self._client is None:
            endpoint = self.settings.s3_endpoint
            self._client = Minio(
                endpoint.split("://", 1)[-1],
                access_key=self.settings.s3_access_key,
                secret_key=self.settings.s3_secret_key,
                secure=endpoint.startswith("https://"),
                region=self.settings.s3_region,  # given: presigning makes no request
            )
        return self._client

    def key(self, media_id: str) -> str:
        return f"{self.prefix}{media_id}"

    def presign_put(self, key: str, seconds: int) -> str:
        return self.client.presigned_put_object(self.bucket, key, timedelta(seconds=seconds))

    def presign_get(self, key: str, seconds: int) -> str:
        return self.client.presigned_get_object(self.bucket, key, timedelta(seconds=seconds))

    def read(self, key: str, limit: int) -> StoredObject | None:
        """Size, content type, leading bytes and SHA-256 of the stored object (None when there
        is none). Reads at most `limit + 1` bytes: a larger object is reported by its size."""
        try:
            stat = self.client.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                return None
            raise
        size = int(stat.size or 0)
        content_type = (stat.content_type or "").split(";")[0].strip().lower()
        if size > limit:
            return StoredObject(size, content_type, "", b"")
        digest = hashlib.sha256()
        head = b""
        response = self.client.get_object(self.bucket, key)
        try:
            for chunk in response.stream(_CHUNK):
                if len(head) < 16:
                    head += chunk[: 16 - len(head)]
                digest.update(chunk)
        finally:
            response.close()
            response.release_conn()
        return StoredObject(size, content_type, digest.hexdigest(), head)

    def remove(self, key: str) -> None:
        """Delete the object; a missing object is fine (deleting is idempotent in S3)."""
        self.client.remove_object(self.bucket, key)

    def exists(self, key: str) -> bool:
        try:
            self.client.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                return False
            raise
        return True

    def keys(self) -> list[str]:
        """Every object key under this namespace's media prefix."""
        return [
            str(o.object_name)
            for o in self.client.list_objects(self.bucket, prefix=self.prefix, recursive=True)
            if o.object_name is not None
        ]


@dataclass(frozen=True, slots=True)
class SweepResult:
    rows: int  # pending uploads past their URL (plus grace): row and object removed
    objects: int  # objects under the prefix that no row knows (e.g. uploaded after a refusal)


def sweep_orphans(
    settings: Settings, store: MediaStore, *, now: datetime | None = None
) -> SweepResult:
    """Remove uploads that were never finalised: pending rows whose upload URL expired more than
    `media_sweep_grace_seconds` ago (row deleted with its outbox event in one transaction, then
    the object), and objects older than an upload URL plus the grace that no row names (a PUT
    through a URL whose upload was already refused, or a crash between the two steps above).
    """
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(seconds=settings.media_sweep_grace_seconds)
    swept_rows = 0
    with psycopg.connect(settings.database_url) as conn:
        while True:
            with conn.transaction():
                row = conn.execute(
                    "delete from learning.media where media_id = (select media_id from"
                    " learning.media where status = 'pending' and upload_expires_at < %s"
                    " order by upload_expires_at limit 1 for update skip locked)"
                    " returning media_id::text, user_id::text, holder_type, holder_id::text,"
                    " kind, content_type, size_bytes, object_key",
                    (cutoff,),
                ).fetchone()
                if row is None:
                    break
                append_sync(
                    conn,
                    MediaPurgedV1(
                        media_id=row[0],
                        user_id=row[1],
                        holder_type=row[2],
                        holder_id=row[3],
                        kind=row[4],
                        content_type=row[5],
                        size_bytes=row[6],
                        reason="never_finalised",
                        changed_at=now,
                    ),
                )
            store.remove(row[7])
            swept_rows += 1
        known = {
            r[0]
            for r in conn.execute(
                "select object_key from learning.media where object_key like %s",
                (store.prefix + "%",),
            ).fetchall()
        }
        old = now - timedelta(
            seconds=settings.media_upload_seconds + settings.media_sweep_grace_seconds
        )
        swept_objects = 0
        for obj in store.client.list_objects(store.bucket, prefix=store.prefix, recursive=True):
            key = obj.object_name
            if key is None or key in known:
                continue
            if obj.last_modified is not None and obj.last_modified > old:
                continue  # maybe an upload whose row is being written right now
            with conn.transaction():
                append_sync(
                    conn,
                    MediaPurgedV1(
                        media_id=key.removeprefix(store.prefix),
                        user_id=None,
                        holder_type=None,
                        holder_id=None,
                        kind=None,
                        content_type=None,
                        size_bytes=obj.size,
                        reason="no_row",
                        changed_at=now,
                    ),
                )
            store.remove(key)
            swept_objects += 1
    return SweepResult(swept_rows, swept_objects)
