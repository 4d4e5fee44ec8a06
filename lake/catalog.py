"""The Iceberg catalog: pyiceberg's SqlCatalog with its tables in the platform's PostgreSQL.

SqlCatalog keeps two small tables (`iceberg_tables`, `iceberg_namespace_properties`) in the
database's default schema; pointer swaps are compare-and-set UPDATEs, so commits are atomic.
It works with SQLAlchemy 2.1 through the psycopg 3 driver (`postgresql+psycopg://`), which is
`Settings.sqlalchemy_url`.
"""

from __future__ import annotations

from pyiceberg.catalog.sql import SqlCatalog

from core.settings import Settings
from lake.storage import file_io_properties, local_warehouse_dir, warehouse_location

CATALOG_NAME = "dreamseed"


def load_catalog(settings: Settings, *, create_namespace: bool = True) -> SqlCatalog:
    """Open the catalog; by default make sure `settings.lake_namespace` exists (readers pass
    `create_namespace=False` so that looking never writes)."""
    if not settings.uses_s3:
        local_warehouse_dir(settings).mkdir(parents=True, exist_ok=True)
    catalog = SqlCatalog(
        CATALOG_NAME,
        uri=settings.sqlalchemy_url,
        warehouse=warehouse_location(settings),
        **file_io_properties(settings),
    )
    if create_namespace:
        catalog.create_namespace_if_not_exists(settings.lake_namespace)
    return catalog
