"""The access log keeps no credential and no search: every route taking a signed token in its
path has it masked, and query strings are dropped."""

from __future__ import annotations

import logging

import pytest
from fastapi.routing import APIRoute

from api.access_log import ACCESS_LOGGER, ScrubbedAccessLog, install_access_log_filter, scrub_path
from api.app import ROUTERS

SECRET = "eyJjYXNlIjoiY3VzdC0wMDAzIn0.SIGNATURE"


def test_every_route_with_a_token_in_its_path_is_masked() -> None:
    paths = {r.path for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)}
    with_token = sorted(p for p in paths if "{token}" in p)
    # Answers to notices, their done pages, data exports and the deletion request's
    # confirmation (a credential that opens a case ending in the customer's deletion).
    assert {"/r/{token}", "/exports/{token}", "/privacy/request/{token}"} <= set(with_token)
    for route in with_token:
        path = route.replace("{token}", SECRET)
        scrubbed = scrub_path(f"{path}?lang=en")
        assert SECRET not in scrubbed, route
        assert scrubbed == route.replace("{token}", "…")


@pytest.mark.parametrize(
    ("logged", "kept"),
    [
        ("/cases?q=Li%20Na&owner=li.na%40example.com", "/cases"),
        ("/privacy/request/" + SECRET + "/done?lang=de", "/privacy/request/…/done"),
        ("/r/" + SECRET, "/r/…"),
        ("/customers/cust-0003", "/customers/cust-0003"),
    ],
)
def test_the_access_record_keeps_the_path_without_token_or_query(logged: str, kept: str) -> None:
    # The record uvicorn writes for each request: (client, method, path with query, HTTP
    # version, status), formatted by its access formatter.
    record = logging.LogRecord(
        ACCESS_LOGGER,
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", logged, "1.1", 200),
        None,
    )
    assert ScrubbedAccessLog().filter(record)
    line = record.getMessage()
    assert line == f'127.0.0.1:5000 - "GET {kept} HTTP/1.1" 200'
    assert SECRET not in line and "example.com" not in line and "Li%20Na" not in line


def test_the_filter_is_installed_once_on_uvicorns_access_logger() -> None:
    install_access_log_filter()
    install_access_log_filter()
    logger = logging.getLogger(ACCESS_LOGGER)
    assert sum(isinstance(f, ScrubbedAccessLog) for f in logger.filters) == 1
