"""Housekeeping: media uploads never finalised are swept hourly (rows and objects); tutor
transcripts past their retention are deleted daily."""

from dataclasses import dataclass

import dagster as dg

from core.media import MediaStore, SweepResult, sweep_orphans
from core.settings import Settings
from core.transcripts import purge_expired_transcripts


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


@dg.op(description="Delete tutor conversations (with their turns) idle past the retention.")
def purge_transcripts_op(
    context: dg.OpExecutionContext, media: dg.ResourceParam[MediaResource]
) -> None:
    deleted = purge_expired_transcripts(media.settings)
    context.log.info(f"deleted {deleted} tutor conversations past the retention")
    context.add_output_metadata({"conversations": deleted})


@dg.job(
    name="tutor_transcript_retention",
    description="Delete tutor transcripts older than DREAMSEED_TUTOR_RETENTION_DAYS.",
)
def tutor_transcript_retention() -> None:
    purge_transcripts_op()


tutor_retention_daily = dg.ScheduleDefinition(
    name="tutor_retention_daily",
    cron_schedule="17 3 * * *",
    job=tutor_transcript_retention,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily: delete tutor transcripts past their retention.",
)

learning_jobs = [media_orphan_sweep, tutor_transcript_retention]
learning_schedules = [media_sweep_hourly, tutor_retention_daily]
