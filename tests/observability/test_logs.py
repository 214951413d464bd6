"""JSON log lines: one object per line, the case's ids from Temporal's context, no address."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from collections.abc import Iterator

import pytest
from temporalio import activity
from temporalio.testing import ActivityEnvironment

from closeout.observability.logs import JsonFormatter, configure_logging, without_addresses


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("closeout.test-json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield out
    logger.removeHandler(handler)


def _records(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _env() -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info,
        workflow_id="close-customer-cust-0042",
        workflow_run_id="run-7",
        workflow_type="CloseCustomerWorkflow",
        activity_type="send_notice",
    )
    return env


def test_a_plain_logger_inside_an_activity_names_the_case(lines: io.StringIO) -> None:
    def step() -> None:
        logging.getLogger("closeout.test-json").info("sent to %s", "ana.silva@example.org")

    _env().run(step)
    (record,) = _records(lines)
    assert record["message"] == "sent to [address]"
    assert record["workflow_id"] == "close-customer-cust-0042"
    assert record["run_id"] == "run-7" and record["customer_id"] == "cust-0042"
    assert record["activity_type"] == "send_notice" and record["level"] == "info"
    assert str(record["ts"]).endswith("+00:00")


def test_the_sdk_activity_logger_extras_are_kept(lines: io.StringIO) -> None:
    logger = logging.getLogger("closeout.test-json")
    adapter = activity.LoggerAdapter(logger, None)

    def step() -> None:
        adapter.warning("retrying")

    _env().run(step)
    (record,) = _records(lines)
    assert record["workflow_id"] == "close-customer-cust-0042" and record["level"] == "warning"
    assert record["workflow_type"] == "CloseCustomerWorkflow"


def test_outside_any_activity_a_line_has_no_ids_and_errors_lose_their_addresses(
    lines: io.StringIO,
) -> None:
    logger = logging.getLogger("closeout.test-json")
    try:
        raise ValueError("refused <bob@example.com>")
    except ValueError:
        logger.exception("the mail server said no")
    (record,) = _records(lines)
    assert "workflow_id" not in record and record["error"] == "ValueError"
    # The frames, not the message: what the error quoted stays out of the line.
    assert "bob@example.com" not in json.dumps(record) and "refused" not in str(record["trace"])
    assert "test_logs.py" in str(record["trace"])


@pytest.mark.parametrize(
    "address",
    [
        '"li.na"@example.com',
        "li.na@例え.テスト",
        "li.na@localhost",
        "li.na@[192.0.2.1]",
        "li.na%40example.com",
        "li.na\\u0040example.com",
        "li.na&#64;example.com",
        "li.na@example.c0m",
        "li.na@xn--p1ai",
    ],
)
def test_addresses_in_any_spelling_are_replaced(address: str) -> None:
    assert without_addresses(f"mailed <{address}> today") == "mailed <[address]> today"


def test_addresses_are_replaced_but_ids_and_hosts_are_not() -> None:
    text = "case c-1 of cust-9 mailed a.b+c@mail.example.co.uk via smtp.example.com:25"
    assert without_addresses(text) == "case c-1 of cust-9 mailed [address] via smtp.example.com:25"


def test_configure_logging_writes_json_through_the_root_logger(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging("json")
        logging.getLogger("uvicorn.error").info("Started server process")
        err = capsys.readouterr().err.strip().splitlines()
        assert json.loads(err[-1])["logger"] == "uvicorn.error"
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
