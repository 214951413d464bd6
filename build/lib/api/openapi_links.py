"""OpenAPI links: which answer names the case or task that other operations act on.

A client generated from the schema (and a fuzzer's stateful phase) follows them from the
operation that creates or lists a thing to the operations on that thing.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

CASE_OPERATIONS = (
    ("get", "/api/cases/{case_id}"),
    ("get", "/api/cases/{case_id}/certificate"),
    ("get", "/api/cases/{case_id}/retained-data"),
    ("post", "/api/cases/{case_id}/customer-response"),
    ("post", "/api/cases/{case_id}/cancel"),
    ("post", "/api/cases/{case_id}/legal-holds"),
    ("post", "/api/cases/{case_id}/retention"),
    ("post", "/api/cases/{case_id}/reactivate"),
)
TASK_OPERATIONS = (
    ("post", "/api/tasks/{task_id}/decision"),
    ("post", "/api/tasks/{task_id}/claim"),
    ("post", "/api/tasks/{task_id}/unclaim"),
    ("post", "/api/tasks/{task_id}/delegate"),
)
CUSTOMER_OPERATIONS = (
    ("get", "/api/customers/{customer_id}"),
    ("post", "/api/customers/{customer_id}/exclusions"),
)
HOLD_RELEASE = (("post", "/api/cases/{case_id}/legal-holds/{hold_id}/release"),)
CAUGHT_MAIL = (("get", "/dev/mail/{mail_id}"),)


def links_to(
    operations: tuple[tuple[str, str], ...], **parameters: str
) -> dict[str, dict[str, Any]]:
    """One link to each operation, filling its path parameters from runtime expressions."""
    return {
        _name(method, path): {
            "operationRef": f"#/paths/{_pointer(path)}/{method}",
            "parameters": parameters,
        }
        for method, path in operations
    }


def links(status: int, *groups: dict[str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    """The `responses` argument of a route whose `status` answer carries these links."""
    merged: dict[str, dict[str, Any]] = {}
    for group in groups:
        merged |= group
    return {status: {"links": merged}}


def _pointer(path: str) -> str:
    # A JSON pointer (RFC 6901: "~" first, then "/") inside a URI fragment, braces encoded.
    pointer = path.replace("~", "~0").replace("/", "~1")
    return quote(pointer, safe="~-._")


def _name(method: str, path: str) -> str:
    words = re.sub(r"[{}]", "", path.removeprefix("/api/")).replace("/", " ").split()
    return method.title() + "".join(re.sub(r"[^A-Za-z0-9]", "", w.title()) for w in words)


CASE_FROM_ANSWER = links_to(CASE_OPERATIONS, case_id="$response.body#/case_id")
CASE_FROM_LIST = links_to(CASE_OPERATIONS, case_id="$response.body#/items/0/id")
TASK_FROM_ANSWER = links_to(TASK_OPERATIONS, task_id="$response.body#/task_id")
TASK_FROM_LIST = links_to(TASK_OPERATIONS, task_id="$response.body#/items/0/id")
TASK_FROM_CASE = links_to(TASK_OPERATIONS, task_id="$response.body#/pending_tasks/0/id")
HOLD_FROM_ANSWER = links_to(
    HOLD_RELEASE, case_id="$response.body#/case_id", hold_id="$response.body#/hold_id"
)
HOLD_FROM_CASE = links_to(
    HOLD_RELEASE, case_id="$response.body#/id", hold_id="$response.body#/legal_holds/0/id"
)
CUSTOMER_FROM_LIST = links_to(CUSTOMER_OPERATIONS, customer_id="$response.body#/items/0/id")
MAIL_FROM_LIST = links_to(CAUGHT_MAIL, mail_id="$response.body#/0/id")
# A listed customer is one a case can be opened for: by hand, with a reason.
CASE_FOR_CUSTOMER = {
    "PostCases": {
        "operationRef": f"#/paths/{_pointer('/api/cases')}/post",
        "requestBody": {
            "customer_id": "$response.body#/items/0/id",
            "trigger": "manual",
            "evidence": {"reason": "opened from the customer list"},
            "policy": None,
        },
    }
}
