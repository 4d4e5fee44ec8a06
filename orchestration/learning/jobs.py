"""Media housekeeping: uploads never finalised are swept hourly (rows and objects)."""

from dataclasses import dataclass

import dagster as dg

from core.media import MediaStore, SweepResult, sweep_orphans
from core.settings import Settings


@dataclass(frozen=True)
class MediaResource:
    """Passed to ops as the `media` resource (a plain object, like the lake's)."""

    settings: Settings

    def sweep(self) -> SweepResult:
        return sweep_orphans(self.settings, MediaStore(self.settings))


@dg.op(
    description=(
        "Delete pending uploads whose presigned URL expired more than the grace period ago "
        "(row + outbox event, then the object) and media objects no row names."
    )
)
def sweep_media_op(context: dg.OpExecutionContext, media: dg.ResourceParam[MediaResource]) -> None:
    result = media.sweep()
    context.log.info(f"swept {result.rows} unfinished uploads and {result.objects} stray objects")
    context.add_output_metadata({"rows": result.rows, "objects": result.objects})


@dg.job(name="media_orphan_sweep", description="Remove uploads that were never finalised.")
def media_orphan_sweep() -> None:
    sweep_media_op()


media_sweep_hourly = dg.ScheduleDefinition(
    name="media_sweep_hourly",
    cron_schedule="41 * * * *",
    job=media_orphan_sweep,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Hourly: sweep media uploads that were never finalised.",
)

learning_jobs = [media_orphan_sweep]
learning_schedules = [media_sweep_hourly]
