"""Log lines for machines: one JSON object per line, with the case's ids and no personal data.

`CLOSEOUT_LOG_FORMAT=json` turns it on for every process (API, worker, CLI). A line carries
the workflow and run ids (a case's workflow id names its customer id, an identifier, not a
person) and the activity's type when there is one. Messages are Closeout's own words; as a
last guard, anything shaped like an e-mail address is replaced before the line is written, and
an exception is written as its type and its frames, without its message.
"""

from __future__ import annotations

import json
import logging
import re
import traceback
from datetime import UTC, datetime
from typing import Any

from temporalio import activity

from closeout.constants import WORKFLOW_ID_PREFIX

# An address in any spelling a message or a library might use: a quoted local part, `@`
# escaped for URLs, JSON or HTML, any domain (internationalised, a bare host, an IP literal).
_ADDRESS = re.compile(
    r"(?:\"[^\"\n]*\"|[^\s<>\"'@,;:()\[\]%\\&]+)"
    r"(?:@|%40|\\u0040|&#64;|&#x40;)"
    r"(?:\[[^\]\s]*\]|[^\s<>\"'@,;:()\[\]/]+)",
    re.IGNORECASE,
)
# What the Temporal SDK's loggers attach to a record (`temporalio.workflow.logger`,
# `temporalio.activity.logger`), and the keys kept from it.
_TEMPORAL_EXTRAS = ("temporal_workflow", "temporal_activity")
_KEPT = ("workflow_id", "run_id", "workflow_type", "activity_type", "activity_id", "attempt")
# The activity logger names the run `workflow_run_id`; a line calls it `run_id` either way.
_RENAMED = {"workflow_run_id": "run_id"}


def without_addresses(text: str) -> str:
    return _ADDRESS.sub("[address]", text)


def _ids(details: dict[str, Any]) -> dict[str, Any]:
    renamed = {_RENAMED.get(k, k): v for k, v in details.items()}
    return {k: renamed[k] for k in _KEPT if renamed.get(k) is not None}


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON: time, level, logger, message, and the case's ids."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": without_addresses(record.getMessage()),
        }
        for extra in _TEMPORAL_EXTRAS:
            found = getattr(record, extra, None)
            if isinstance(found, dict):
                line.update(_ids(found))
        if "workflow_id" not in line and activity.in_activity():
            # A plain logger called from inside an activity: the activity says whose case.
            info = activity.info()
            line.update(
                _ids(
                    {
                        "workflow_id": info.workflow_id,
                        "workflow_run_id": info.workflow_run_id,
                        "workflow_type": info.workflow_type,
                        "activity_type": info.activity_type,
                        "attempt": info.attempt,
                    }
                )
            )
        workflow_id = line.get("workflow_id")
        if isinstance(workflow_id, str) and workflow_id.startswith(WORKFLOW_ID_PREFIX):
            line["customer_id"] = workflow_id.removeprefix(WORKFLOW_ID_PREFIX)
        if record.exc_info:
            # The exception's type and where it was raised, never its message: that may quote
            # the values it failed on (a database error, the rows' parameters).
            kind, _error, trace = record.exc_info
            line["error"] = kind.__name__ if kind else "error"
            line["trace"] = [
                f"{frame.filename}:{frame.lineno} in {frame.name}"
                for frame in traceback.extract_tb(trace)
            ]
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(log_format: str, level: int = logging.INFO) -> None:
    """The root logger's one handler, in the format the settings say (text by default)."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    if log_format == "json":
        # Uvicorn's loggers write through the root handler, as one format.
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            logger = logging.getLogger(name)
            logger.handlers.clear()
            logger.propagate = True
