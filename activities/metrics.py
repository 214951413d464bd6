"""Closeout's own counters, served with Temporal's on the worker's metrics endpoint
(`CLOSEOUT_WORKER_METRICS_ADDRESS`): what a case's steps did, never whose case it was."""

from __future__ import annotations

from enum import StrEnum

from temporalio import activity


class Counted(StrEnum):
    """The worker's counters (`<name>_total` on the endpoint) and what each counts."""

    NOTICES_SENT = "closeout_notices_sent"
    NOTICES_REFUSED = "closeout_notices_refused"
    NOTICE_SEND_FAILURES = "closeout_notice_send_failures"
    DELETIONS = "closeout_deletions"
    DELETION_VERIFICATION_FAILURES = "closeout_deletion_verification_failures"

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    Counted.NOTICES_SENT: "Messages the mail server accepted, by kind.",
    Counted.NOTICES_REFUSED: "Messages refused for good (a bounce at sending), by kind.",
    Counted.NOTICE_SEND_FAILURES: "Attempts to send that failed and will be retried (the mail "
    "server unreachable or refusing for now), by kind.",
    Counted.DELETIONS: "Deletion steps done: of a whole customer, or of categories whose "
    "retention ended (`scope`).",
    Counted.DELETION_VERIFICATION_FAILURES: "Verifications that found something left, or "
    "could not yet look, by reason; each is retried.",
}


def tally(counter: Counted, **labels: str) -> None:
    """Add one to `counter` from inside an activity (a no-op where no metrics are served, and
    outside an activity, as when a step is called directly)."""
    if not activity.in_activity():
        return
    meter = activity.metric_meter()
    meter.create_counter(counter.value, counter.description).add(
        1, {k: str(v) for k, v in labels.items()} or None
    )
