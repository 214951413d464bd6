"""A local server answering with the Salesforce REST API's documented shapes (API v62.0), over
HTTPS with a test CA's certificate: describeGlobal and sObject describe, SOQL queries (the
subset the adapters send: a field list or COUNT(); conditions with =, !=, LIKE and IN joined
by AND, and OR within parentheses; ORDER BY one field, LIMIT, OFFSET), sObject Collections
create and delete (`/composite/sobjects`), single-record update (PATCH) and delete. Errors
as Salesforce sends them: 401 INVALID_SESSION_ID, 403 REQUEST_LIMIT_EXCEEDED, 429 with
Retry-After, 5xx.

What it is not: Salesforce. It keeps records in memory, knows six objects and a handful of
fields each, and parses no more SOQL than the adapters write. The README says so.
"""

from __future__ import annotations

import itertools
import json
import re
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme

VERSION = "62.0"
BASE = f"/services/data/v{VERSION}/"
# Each object's fields, and whether a create may set them (Id and system fields may not).
OBJECTS: dict[str, dict[str, bool]] = {
    "Account": {
        "Id": False, "Name": True, "Closeout_Id__c": True, "Phone": True, "Website": True,
        "BillingCity": True, "BillingCountry": True, "Description": True, "OwnerId": True,
        "Closeout_Status__c": True, "CreatedDate": False,
    },
    "Contact": {
        "Id": False, "AccountId": True, "FirstName": True, "LastName": True, "Name": False,
        "Email": True, "Phone": True, "EmailBouncedReason": True, "EmailBouncedDate": True,
        "CreatedDate": False,
    },
    "Opportunity": {
        "Id": False, "AccountId": True, "Name": True, "StageName": True, "CloseDate": True,
        "Amount": True, "IsWon": False, "CreatedDate": False,
    },
    "Case": {
        "Id": False, "AccountId": True, "Subject": True, "Description": True, "Status": True,
        "Origin": True, "CreatedDate": False,
    },
    "Task": {
        "Id": False, "AccountId": False, "WhatId": True, "Subject": True, "Description": True,
        "Status": True, "ActivityDate": True, "CreatedDate": False,
    },
    "User": {"Id": False, "Username": True, "Email": True, "IsActive": True},
}  # fmt: skip
PREFIX = {
    "Account": "001", "Contact": "003", "Opportunity": "006", "Case": "500", "Task": "00T",
    "User": "005",
}  # fmt: skip
_SOQL = re.compile(
    r"^SELECT (?P<fields>.+?) FROM (?P<object>\w+)(?: WHERE (?P<where>.+?))?"
    r"(?: ORDER BY (?P<order>\w+)(?: ASC)?)?(?: LIMIT (?P<limit>\d+))?(?: OFFSET (?P<offset>\d+))?$"
)
_TOKEN = re.compile(r"\s*('(?:[^'\\]|\\.)*'|\(|\)|,|!=|=|[\w.%-]+)")


def _tokens(where: str) -> list[str]:
    found, at = [], 0
    while at < len(where):
        match = _TOKEN.match(where, at)
        if match is None:
            raise ValueError(where[at:])
        found.append(match[1])
        at = match.end()
    return found


def _value(token: str) -> Any:
    if token.startswith("'"):
        return _unquote(token[1:-1])
    return {"null": None, "true": True, "false": False}.get(token.lower(), token)


def _like(value: Any, quoted: str) -> bool:
    """LIKE's pattern as quoted in the query: % and _ wildcards, a backslash escapes."""
    parts = re.findall(r"\\.|.", quoted[1:-1])
    regex = "".join(
        re.escape(c[1]) if len(c) == 2 else ".*" if c == "%" else "." if c == "_" else re.escape(c)
        for c in parts
    )
    return value is not None and re.fullmatch(regex, str(value), re.IGNORECASE) is not None


def _same(value: Any, wanted: Any) -> bool:
    if isinstance(value, str) and isinstance(wanted, str):
        return value.lower() == wanted.lower()  # SOQL compares text without regard to case
    return bool(value == wanted)


def _condition(tokens: list[str], at: int) -> tuple[Any, int]:
    """One condition from tokens[at]: a test on a record, and where the next token is."""
    if tokens[at] == "(":
        tests, at = [], at + 1
        while True:
            test, at = _condition(tokens, at)
            tests.append(test)
            if tokens[at] == ")":
                return (lambda r: any(t(r) for t in tests)), at + 1
            if tokens[at].upper() != "OR":
                raise ValueError(tokens[at])
            at += 1
    name, op = tokens[at], tokens[at + 1].upper()
    if op == "IN":
        values, at = [], at + 3  # past the "("
        while tokens[at] != ")":
            if tokens[at] != ",":
                values.append(_value(tokens[at]))
            at += 1
        return (lambda r: any(_same(r.get(name), v) for v in values)), at + 1
    wanted = _value(tokens[at + 2])
    if op == "=":
        return (lambda r: _same(r.get(name), wanted)), at + 3
    if op == "!=":
        return (lambda r: not _same(r.get(name), wanted)), at + 3
    if op == "LIKE":
        quoted = tokens[at + 2]
        return (lambda r: _like(r.get(name), quoted)), at + 3
    raise ValueError(op)


def _where(where: str) -> Any:
    tokens, tests, at = [*_tokens(where), "<end>"], [], 0
    while True:
        test, at = _condition(tokens, at)
        tests.append(test)
        if tokens[at] == "<end>":
            return lambda r: all(t(r) for t in tests)
        if tokens[at].upper() != "AND":
            raise ValueError(tokens[at])
        at += 1


@dataclass
class Org:
    """The org's records, and how the server misbehaves when a test asks it to."""

    token: str
    records: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {name: {} for name in OBJECTS}
    )
    mode: str = "ok"  # ok | rate_limited | throttled | slow | failing
    retry_after: str | None = None
    requests: int = 0
    # Every update the org took: (object, record id, the values written).
    updates: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def new_id(self, sobject: str) -> str:
        return f"{PREFIX[sobject]}{next(self._ids):012d}AAA"

    def create(self, sobject: str, values: dict[str, Any]) -> str:
        with self.lock:
            record_id = self.new_id(sobject)
            record = dict.fromkeys(OBJECTS[sobject]) | values | {"Id": record_id}
            record["CreatedDate"] = "2026-12-01T09:00:00.000+0000"
            if sobject == "Task":
                record["AccountId"] = values.get("WhatId")
            if sobject == "Opportunity":
                record["IsWon"] = values.get("StageName") == "Closed Won"
            if sobject == "Contact":
                record["Name"] = f"{values.get('FirstName') or ''} {values.get('LastName')}".strip()
            self.records[sobject][record_id] = record
            return record_id

    def find(self, record_id: str) -> tuple[str, dict[str, Any]] | None:
        for sobject, records in self.records.items():
            if record_id in records:
                return sobject, records[record_id]
        return None


def _unquote(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _refused(self) -> bool:
        org = self.server.org
        org.requests += 1
        if self.headers.get("Authorization") != f"Bearer {org.token}":
            error = {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
            self._send(401, [error])
            return True
        if org.mode == "rate_limited":
            error = {
                "message": "TotalRequests Limit exceeded.",
                "errorCode": "REQUEST_LIMIT_EXCEEDED",
            }
            self._send(403, [error])
            return True
        if org.mode == "throttled":
            headers = {"Retry-After": org.retry_after} if org.retry_after else {}
            self._send(
                429,
                [{"message": "Too many requests", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
                headers,
            )
            return True
        if org.mode == "failing":
            self._send(503, [{"message": "Service unavailable", "errorCode": "SERVER_UNAVAILABLE"}])
            return True
        if org.mode == "slow":
            time.sleep(3)
        return False

    def do_GET(self) -> None:
        if self._refused():
            return
        url = urlsplit(self.path)
        path = url.path
        if path in (BASE + "sobjects", BASE + "sobjects/"):
            listed = [
                {"name": n, "queryable": True, "deletable": True, "createable": True}
                for n in OBJECTS
            ]
            self._send(200, {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": listed})
            return
        described = re.fullmatch(rf"{re.escape(BASE)}sobjects/(\w+)/describe/?", path)
        if described:
            name = described[1]
            if name not in OBJECTS:
                self._send(
                    404,
                    [
                        {
                            "message": "The requested resource does not exist",
                            "errorCode": "NOT_FOUND",
                        }
                    ],
                )
                return
            fields = [
                {"name": f, "createable": c, "updateable": c} for f, c in OBJECTS[name].items()
            ]
            self._send(200, {"name": name, "fields": fields})
            return
        if path in (BASE + "query", BASE + "query/"):
            self._query(parse_qs(url.query).get("q", [""])[0])
            return
        self._send(
            404, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]
        )

    def _query(self, soql: str) -> None:
        match = _SOQL.match(soql.strip())
        if not match or match["object"] not in OBJECTS:
            self._send(400, [{"message": "unexpected token", "errorCode": "MALFORMED_QUERY"}])
            return
        sobject = match["object"]
        with self.server.org.lock:
            rows = list(self.server.org.records[sobject].values())
        try:
            test = _where(match["where"]) if match["where"] else None
        except (ValueError, IndexError):
            self._send(400, [{"message": "unexpected token", "errorCode": "MALFORMED_QUERY"}])
            return
        if test is not None:
            rows = [r for r in rows if test(r)]
        if match["order"]:
            rows.sort(key=lambda r: (r.get(match["order"]) is None, str(r.get(match["order"]))))
        start = int(match["offset"] or 0)
        rows = rows[start : start + int(match["limit"]) if match["limit"] else None]
        if match["fields"].strip().upper() == "COUNT()":
            self._send(200, {"totalSize": len(rows), "done": True, "records": []})
            return
        names = [f.strip() for f in match["fields"].split(",")]
        if any(n not in OBJECTS[sobject] for n in names):
            self._send(400, [{"message": "No such column", "errorCode": "INVALID_FIELD"}])
            return
        records = [
            {"attributes": {"type": sobject, "url": f"{BASE}sobjects/{sobject}/{r['Id']}"}}
            | {n: r.get(n) for n in names}
            for r in rows
        ]
        self._send(200, {"totalSize": len(records), "done": True, "records": records})

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"null")

    def do_POST(self) -> None:
        if self._refused():
            return
        if urlsplit(self.path).path != BASE + "composite/sobjects":
            self._send(404, [{"message": "not found", "errorCode": "NOT_FOUND"}])
            return
        body = self._body()
        results = []
        for record in body.get("records", []):
            sobject = record.get("attributes", {}).get("type")
            values = {k: v for k, v in record.items() if k != "attributes"}
            not_createable = [k for k in values if not OBJECTS.get(sobject, {}).get(k, False)]
            if sobject not in OBJECTS or not_createable:
                error = {
                    "statusCode": "INVALID_FIELD_FOR_INSERT_UPDATE",
                    "message": str(not_createable),
                    "fields": not_createable,
                }
                results.append({"success": False, "errors": [error]})
                continue
            results.append(
                {"id": self.server.org.create(sobject, values), "success": True, "errors": []}
            )
        self._send(200, results)

    def do_PATCH(self) -> None:
        if self._refused():
            return
        single = re.fullmatch(rf"{re.escape(BASE)}sobjects/(\w+)/(\w+)", urlsplit(self.path).path)
        if not single or single[1] not in OBJECTS:
            self._send(404, [{"message": "not found", "errorCode": "NOT_FOUND"}])
            return
        values = self._body()
        wrong = [k for k in values if not OBJECTS[single[1]].get(k, False)]
        if wrong:
            error = {"message": str(wrong), "errorCode": "INVALID_FIELD_FOR_INSERT_UPDATE"}
            self._send(400, [error])
            return
        with self.server.org.lock:
            record = self.server.org.records[single[1]].get(single[2])
            if record is None:
                self._send(
                    404, [{"message": "entity is deleted", "errorCode": "ENTITY_IS_DELETED"}]
                )
                return
            record.update(values)
            self.server.org.updates.append((single[1], single[2], values))
        self._send(204)

    def do_DELETE(self) -> None:
        if self._refused():
            return
        url = urlsplit(self.path)
        org = self.server.org
        if url.path == BASE + "composite/sobjects":
            ids = parse_qs(url.query).get("ids", [""])[0].split(",")
            if len(ids) > 200:
                self._send(400, [{"message": "too many ids", "errorCode": "EXCEEDED_ID_LIMIT"}])
                return
            results = []
            with org.lock:
                for record_id in ids:
                    found = org.find(record_id)
                    if found is None:
                        error = {
                            "statusCode": "ENTITY_IS_DELETED",
                            "message": "entity is deleted",
                            "fields": [],
                        }
                        results.append({"id": record_id, "success": False, "errors": [error]})
                        continue
                    del org.records[found[0]][record_id]
                    results.append({"id": record_id, "success": True, "errors": []})
            self._send(200, results)
            return
        single = re.fullmatch(rf"{re.escape(BASE)}sobjects/(\w+)/(\w+)", url.path)
        if single:
            with org.lock:
                if org.records.get(single[1], {}).pop(single[2], None) is None:
                    self._send(
                        404, [{"message": "entity is deleted", "errorCode": "ENTITY_IS_DELETED"}]
                    )
                    return
            self._send(204)
            return
        self._send(404, [{"message": "not found", "errorCode": "NOT_FOUND"}])


class _Server(ThreadingHTTPServer):
    org: Org


@dataclass
class LocalSalesforce:
    url: str
    ca_file: Path
    org: Org

    def user(self, email: str) -> str:
        """The org's user with that address (made once); their id."""
        with self.org.lock:
            for user in self.org.records["User"].values():
                if user["Email"] == email:
                    return str(user["Id"])
        return self.org.create("User", {"Username": email, "Email": email, "IsActive": True})

    def account(self, customer_id: str, owner: str = "li.na@example.com") -> str:
        """A customer as a Salesforce org holds one: an account owned by that user, two
        contacts, two opportunities (one won), a case and two tasks. Its account id."""
        org = self.org
        account = org.create(
            "Account",
            {"Name": f"Globex {customer_id}", "Closeout_Id__c": customer_id,
             "Phone": "+1 415 555 0100", "BillingCity": "Springfield", "BillingCountry": "US",
             "Description": "Key account since 2019", "OwnerId": self.user(owner)},
        )  # fmt: skip
        for first, last in (("Hank", "Scorpio"), ("Frank", "Grimes")):
            org.create("Contact", {"AccountId": account, "FirstName": first, "LastName": last,
                                   "Email": f"{first.lower()}@globex.example"})  # fmt: skip
        opportunity = {"AccountId": account, "Name": "Renewal", "StageName": "Prospecting",
                       "CloseDate": "2027-01-31", "Amount": 52000.0}  # fmt: skip
        org.create("Opportunity", opportunity)
        won = opportunity | {"Name": "First year", "StageName": "Closed Won",
                             "CloseDate": "2025-12-15", "Amount": 48000.0}  # fmt: skip
        org.create("Opportunity", won)
        case = {"AccountId": account, "Subject": "Invoice question", "Status": "Closed",
                "Description": "Hank asked about the March invoice", "Origin": "Email"}  # fmt: skip
        org.create("Case", case)
        for subject in ("Call Hank", "Send the contract"):
            org.create("Task", {"WhatId": account, "Subject": subject, "Status": "Completed",
                                "ActivityDate": "2026-10-01"})  # fmt: skip
        return account


@contextmanager
def local_salesforce(tmp_path: Path, token: str) -> Iterator[LocalSalesforce]:
    ca = trustme.CA()
    ca_file = tmp_path / "salesforce-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    server = _Server(("127.0.0.1", 0), _Handler)
    server.org = Org(token)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LocalSalesforce(f"https://127.0.0.1:{server.server_address[1]}", ca_file, server.org)
    finally:
        server.shutdown()
        server.server_close()
