"""Names shared by the worker, the API and the tests."""

TASK_QUEUE = "closeout-cases"
WORKFLOW_ID_PREFIX = "close-customer-"


def case_workflow_id(customer_id: str) -> str:
    """The workflow id is the business key: one close-customer workflow per customer."""
    return f"{WORKFLOW_ID_PREFIX}{customer_id}"


# The schedule that runs the housekeeping workflow (expired exports, …) every hour.
HOUSEKEEPING_SCHEDULE_ID = "closeout-housekeeping"
# The schedule of the daily detection run (time and zone from settings).
DETECTION_SCHEDULE_ID = "closeout-detection"
