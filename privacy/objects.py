"""Objects in the platform's bucket (or the local warehouse folder): list, remove, store, presign.

The lake's files are addressed by URI (`s3://bucket/warehouse/...` or `file:///...`); export
archives live under `privacy/<namespace>/` in the same bucket as media and the lake.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

from minio import Minio

from core.media import MediaStore
from core.settings import Settings

EXPORT_PREFIX = "privacy"


class Objects:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.media = MediaStore(settings)

    @property
    def client(self) -> Minio:
        return self.media.client

    @property
    def bucket(self) -> str:
        return self.media.bucket

    def export_key(self, request_id: str) -> str:
        return f"{EXPORT_PREFIX}/{self.settings.lake_namespace}/exports/{request_id}.zip"

    def list_uri(self, root: str) -> list[str]:
        """Every file below `root` (a table location), as URIs in the form the lake writes."""
        parsed = urlparse(root)
        if parsed.scheme == "file":
            base = Path(parsed.path)
            return [p.as_uri() for p in base.rglob("*") if p.is_file()] if base.exists() else []
        prefix = parsed.path.lstrip("/").rstrip("/") + "/"
        return [
            f"s3://{parsed.netloc}/{o.object_name}"
            for o in self.client.list_objects(parsed.netloc, prefix=prefix, recursive=True)
            if o.object_name is not None
        ]

    def remove_uris(self, uris: Iterable[str]) -> int:
        removed = 0
        for uri in uris:
            parsed = urlparse(uri)
            if parsed.scheme == "file":
                Path(parsed.path).unlink(missing_ok=True)
            else:
                self.client.remove_object(parsed.netloc, parsed.path.lstrip("/"))
            removed += 1
        return removed

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.client.put_object(self.bucket, key, io.BytesIO(body), len(body), content_type)

    def get(self, key: str) -> bytes:
        response = self.client.get_object(self.bucket, key)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    def presign(self, key: str, seconds: int) -> str:
        return self.client.presigned_get_object(self.bucket, key, timedelta(seconds=seconds))

    def keys(self, prefix: str) -> list[str]:
        return [
            str(o.object_name)
            for o in self.client.list_objects(self.bucket, prefix=prefix, recursive=True)
            if o.object_name is not None
        ]
