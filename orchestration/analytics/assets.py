"""dbt models as assets; dbt tests surface as asset checks."""

from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_dbt import DbtProject, dbt_assets

from orchestration.analytics.resources import DreamSeedDbtResource, ensure_manifest


def build_dbt_assets(project: DbtProject) -> dg.AssetsDefinition:
    """The `@dbt_assets` over transforms/dbt, for a manifest made (if needed) at load time."""
    manifest = ensure_manifest(project)

    @dbt_assets(manifest=manifest, project=project, name="dreamseed_dbt")
    def dreamseed_dbt(
        context: dg.AssetExecutionContext, dbt: DreamSeedDbtResource
    ) -> Iterator[Any]:
        yield from dbt.cli(["build"], context=context).stream()

    return dreamseed_dbt
