"""How long each kind of step may take and how it is retried: presets every workflow shares,
passed whole to `workflow.execute_activity_method(..., **PRESET)`."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

# Writes to the read model and the audit trail: short, retried until the database answers.
BOOKKEEPING = workflow.ActivityConfig(
    start_to_close_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
    ),
)
# Mail: the SMTP server may be away for minutes; the outbox makes each retry safe.
MAIL = workflow.ActivityConfig(
    start_to_close_timeout=timedelta(seconds=60),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=10)
    ),
)
# Long data steps heartbeat (the worker sends them while the step runs), so a worker that dies
# mid-step is noticed within seconds.
DATA_STEP = workflow.ActivityConfig(
    start_to_close_timeout=timedelta(hours=2),
    heartbeat_timeout=timedelta(seconds=10),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=5)
    ),
)
# Verifications read whole bundles and scan every store: the worker heartbeats them too, so a
# worker lost mid-check costs seconds, not the ten minutes of the step's timeout.
VERIFY = workflow.ActivityConfig(
    start_to_close_timeout=timedelta(minutes=10),
    heartbeat_timeout=timedelta(seconds=10),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=2),
        maximum_interval=timedelta(minutes=1),
        maximum_attempts=10,
    ),
)
# A page of a batch job (detection's cases, housekeeping's purges and reminders).
BATCH = workflow.ActivityConfig(
    start_to_close_timeout=timedelta(minutes=10),
    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
)
# Detection's scan of every customer: one long query set, no heartbeat.
SCAN = workflow.ActivityConfig(
    start_to_close_timeout=timedelta(minutes=30),
    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
)
# Housekeeping's sweeps over every deleted customer: long, heartbeating as they go.
SWEEP = workflow.ActivityConfig(
    start_to_close_timeout=timedelta(minutes=30),
    heartbeat_timeout=timedelta(minutes=2),
    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
)
