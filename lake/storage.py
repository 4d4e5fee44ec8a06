"""Where the lake's files live: S3 (MinIO, SeaweedFS) or a local directory.

`file_io_properties` are pyiceberg FileIO properties (also usable for pyarrow's S3 file system);
`warehouse_location` is the root under which every namespace gets its own folder, so test sessions
(each with a private namespace) never write into one another's files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from core.settings import Settings

WAREHOUSE_PREFIX = "warehouse"


@dataclass(frozen=True, slots=True)
class S3Endpoint:
    """An S3 endpoint split the way DuckDB's secret wants it."""

    host_port: str
    use_ssl: bool


def s3_endpoint(settings: Settings) -> S3Endpoint:
    """Split `settings.s3_endpoint` (`http://127.0.0.1:8333`) into host:port and the TLS flag."""
    raw = settings.s3_endpoint
    if "://" not in raw:
        raw = "http://" + raw
    parsed = urlparse(raw)
    if not parsed.hostname:
        raise ValueError(f"DREAMSEED_S3_ENDPOINT is not a URL: {settings.s3_endpoint!r}")
    host = parsed.hostname
    port = parsed.port
    return S3Endpoint(
        host_port=f"{host}:{port}" if port else host, use_ssl=parsed.scheme == "https"
    )


def file_io_properties(settings: Settings) -> dict[str, str]:
    """pyiceberg FileIO properties: S3 with path-style addressing, or nothing for local files."""
    if not settings.uses_s3:
        return {}
    endpoint = (
        settings.s3_endpoint if "://" in settings.s3_endpoint else "http://" + settings.s3_endpoint
    )
    return {
        "s3.endpoint": endpoint,
        "s3.access-key-id": settings.s3_access_key,
        "s3.secret-access-key": settings.s3_secret_key,
        "s3.region": settings.s3_region,
        "s3.force-virtual-addressing": "false",
    }


def local_warehouse_dir(settings: Settings) -> Path:
    """The absolute folder of the local warehouse (used when no S3 endpoint is configured)."""
    return (settings.lake_local_dir / WAREHOUSE_PREFIX).resolve()


def warehouse_location(settings: Settings) -> str:
    """The warehouse root: `s3://<bucket>/warehouse` or `file:///<lake_local_dir>/warehouse`."""
    if settings.uses_s3:
        return f"s3://{settings.lake_bucket}/{WAREHOUSE_PREFIX}"
    return local_warehouse_dir(settings).as_uri()


def namespace_location(settings: Settings) -> str:
    """The folder of `settings.lake_namespace`; every table of the namespace lives below it."""
    return f"{warehouse_location(settings)}/{settings.lake_namespace}"


def table_location(settings: Settings, table: str) -> str:
    return f"{namespace_location(settings)}/{table}"
