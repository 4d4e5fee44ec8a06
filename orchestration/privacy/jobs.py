"""Privacy jobs: run the open export and erasure requests (new ones, and ones a crash
interrupted: an erasure resumes after its last finished step), and apply the inventory's
retention classes."""

from dataclasses import dataclass
from typing import Any

import dagster as dg
import psycopg

from core.settings import Settings
from privacy import requests
from privacy.erasure import run_erasure
from privacy.export import run_export
from privacy.retention import apply_retention


@dataclass(frozen=True)
class PrivacyResource:
    """Passed to ops as the `privacy` resource (a plain object, like the lake's)."""

    settings: Settings

    def open_requests(self) -> list[str]:
        with psycopg.connect(self.settings.database_url, autocommit=True) as conn:
            return requests.open_requests(conn)

    def run(self, request_id: str) -> str:
        with psycopg.connect(self.settings.database_url, autocommit=True) as conn:
            request = requests.load(conn, request_id)
        if request is None or request.status == "done":
            return "skipped"
        if request.kind == "erasure":
            run_erasure(self.settings, request_id)
        else:
            run_export(self.settings, request_id)
        return request.kind

    def retention(self) -> dict[str, Any]:
        return apply_retention(self.settings)


@dg.op(description="Run every open privacy request (export or erasure), oldest first.")
def run_privacy_requests_op(
    context: dg.OpExecutionContext, privacy: dg.ResourceParam[PrivacyResource]
) -> None:
    done: dict[str, str] = {}
    for request_id in privacy.open_requests():
        done[request_id] = privacy.run(request_id)
        context.log.info(f"privacy request {request_id}: {done[request_id]} done")
    context.add_output_metadata({"requests": len(done)})


@dg.op(description="Apply the inventory's retention classes and report what was removed.")
def apply_retention_op(
    context: dg.OpExecutionContext, privacy: dg.ResourceParam[PrivacyResource]
) -> None:
    report = privacy.retention()
    context.log.info(f"retention removed: {report}")
    removed = {
        f"{store}.{table}": n
        for store in ("postgres", "lake")
        for table, n in report[store].items()
    }
    context.add_output_metadata({k: dg.MetadataValue.int(v) for k, v in removed.items()})


@dg.job(name="privacy_requests", description="Export and erasure requests (resumable).")
def privacy_requests() -> None:
    run_privacy_requests_op()


@dg.job(name="privacy_retention", description="Remove what outlived its retention class.")
def privacy_retention() -> None:
    apply_retention_op()


privacy_jobs = [privacy_requests, privacy_retention]
