"""Open privacy requests start a run of `privacy_requests` (never two at once; a request a crash
interrupted is still open, so the next run resumes it)."""

import dagster as dg

from orchestration.privacy.jobs import PrivacyResource, privacy_requests


@dg.sensor(
    name="privacy_requests_sensor",
    job=privacy_requests,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts the privacy_requests job when a request is open.",
)
def privacy_requests_sensor(
    context: dg.SensorEvaluationContext, privacy: dg.ResourceParam[PrivacyResource]
) -> dg.SensorResult | dg.SkipReason:
    pending = privacy.open_requests()
    if not pending:
        return dg.SkipReason("no open privacy request")
    active = context.instance.get_runs(
        filters=dg.RunsFilter(job_name=privacy_requests.name, statuses=ACTIVE), limit=1
    )
    if active:  # one run at a time works through every open request
        return dg.SkipReason("a privacy_requests run is in progress")
    return dg.SensorResult(run_requests=[dg.RunRequest()])


ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]

privacy_sensors = [privacy_requests_sensor]
