"""X-No-Op: read the package as an ingest would, and report without storing."""

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from depositum.deposits.planning import plan_deposit
from depositum.ingest.plan import IngestError
from depositum.sword.common import SwordError


@dataclass
class DryRunReport:
    summary: str
    details: list[str] = field(default_factory=list)


def dry_run(record):
    """Plan the ingest of the unsaved deposit `record` and describe the plan.

    A package that the ingest would reject raises SwordError 400 with the
    ingest's own message.
    """
    Path(settings.UPLOAD_DIR).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.UPLOAD_DIR) as work_dir:
        try:
            plan = plan_deposit(record, Path(work_dir) / "unpacked")
        except IngestError as e:
            raise SwordError(
                400, "ErrorBadRequest", f"An ingest of this package would fail: {e}"
            ) from None

    nodes = list(plan.nodes())
    with_copies = sum(1 for node in nodes if node.access_copy)
    summary = (
        f"No-op: an ingest would create {len(nodes)} descriptions under"
        f" {record.target_slug!r}, {with_copies} of them with an access copy, from"
        f" AIP {plan.aip_uuid} ({len(plan.warnings)} warnings). Nothing was stored."
    )
    details = [
        f"{node.level_of_description or 'Description'}: {node.title}"
        for node in plan.roots
    ]
    details += [f"Warning: {warning}" for warning in plan.warnings]
    return DryRunReport(summary, details)
