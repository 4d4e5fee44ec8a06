"""Storage and catalog configuration derived from Settings (no I/O)."""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings
from lake.storage import (
    file_io_properties,
    namespace_location,
    s3_endpoint,
    table_location,
    warehouse_location,
)


def s3_settings(**changes: object) -> Settings:
    base = Settings(
        s3_endpoint="http://127.0.0.1:8333",
        s3_access_key="ak",
        s3_secret_key="sk",
        s3_region="eu-west-1",
        lake_bucket="lake",
        lake_namespace="ns1",
    )
    return base.with_overrides(**changes)


def test_s3_properties_are_path_style_with_credentials() -> None:
    props = file_io_properties(s3_settings())
    assert props == {
        "s3.endpoint": "http://127.0.0.1:8333",
        "s3.access-key-id": "ak",
        "s3.secret-access-key": "sk",
        "s3.region": "eu-west-1",
        "s3.force-virtual-addressing": "false",
    }


def test_endpoint_without_scheme_defaults_to_http() -> None:
    assert file_io_properties(s3_settings(s3_endpoint="minio:9000"))["s3.endpoint"] == (
        "http://minio:9000"
    )
    endpoint = s3_endpoint(s3_settings(s3_endpoint="https://s3.example.org"))
    assert endpoint.host_port == "s3.example.org" and endpoint.use_ssl
    local = s3_endpoint(s3_settings())
    assert local.host_port == "127.0.0.1:8333" and not local.use_ssl


def test_warehouse_locations_include_the_namespace() -> None:
    settings = s3_settings()
    assert warehouse_location(settings) == "s3://lake/warehouse"
    assert namespace_location(settings) == "s3://lake/warehouse/ns1"
    assert table_location(settings, "t") == "s3://lake/warehouse/ns1/t"


def test_local_warehouse_is_a_file_uri_and_needs_no_credentials(tmp_path: Path) -> None:
    settings = Settings(lake_local_dir=tmp_path / "lake", lake_namespace="dev")
    assert file_io_properties(settings) == {}
    assert warehouse_location(settings) == (tmp_path / "lake" / "warehouse").as_uri()
    assert table_location(settings, "outbox_events").endswith("/warehouse/dev/outbox_events")
    assert not (tmp_path / "lake").exists()  # computing locations never creates folders
