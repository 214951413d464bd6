"""schemathesis over the published schema, against the real API over HTTP, with each role.

Every phase runs (the schema's examples, its coverage of edges, random fuzzing, and stateful
chains that follow the schema's links from a created case or a listed task to the operations
on it); no request may end in a server error, and no operation may answer without a valid
token. Generation is deterministic and bounded, so a run takes well under a minute per role.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from closeout.demo import DEMO_USERS, seed_demo
from closeout.domain import Role
from tests.integration.stack import Stack, start_stack

pytestmark = pytest.mark.integration

CUSTOMERS = 12
# The stack's tokens, one for each role: admin, account_manager, manager, compliance_officer
# and integration.
ROLES = ("admin", "owner", "manager", "compliance", "integration")
# Real identifiers and values the API accepts (a known account manager to delegate to, an
# exclusion's end within the year), so the fuzzer gets past the 404s and 422s to the rest.
CONFIG = """
[dictionaries.customers]
values = {customers}
[dictionaries.policies]
values = ["standard", "demo"]
[dictionaries.account_managers]
values = {account_managers}
[dictionaries.soon]
values = {soon}

[parameters]
"path.customer_id" = {{ dictionary = "customers", probability = 0.5 }}
"body.customer_id" = {{ dictionary = "customers", probability = 0.5 }}
"path.name" = {{ dictionary = "policies", probability = 0.5 }}
"body.to" = {{ dictionary = "account_managers", probability = 0.5 }}
"body.until" = {{ dictionary = "soon", probability = 0.5 }}
"""


@pytest.fixture(scope="module")
def fuzzed_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    for stack in start_stack(tmp_path_factory.mktemp("fuzzed")):
        db = stack.db
        seed_demo(db, count=CUSTOMERS)
        db.engine.dispose()
        yield stack


@pytest.mark.parametrize("role", ROLES)
def test_schemathesis_finds_no_server_error(fuzzed_stack: Stack, role: str, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        CONFIG.format(
            customers=json.dumps([f"cust-{n:04d}" for n in range(1, CUSTOMERS + 1)]),
            account_managers=json.dumps(
                [email for email, r, *_ in DEMO_USERS if r is Role.ACCOUNT_MANAGER]
            ),
            soon=json.dumps([(now + timedelta(days=d)).isoformat() for d in (1, 30, 200)]),
        )
    )
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("st")),
            "--config-file", str(config),
            "run", f"{fuzzed_stack.api_url}/openapi.json",
            "--header", f"Authorization: Bearer {fuzzed_stack.tokens[role]}",
            "--phases", "examples,coverage,fuzzing,stateful",
            "--checks", "not_a_server_error,ignored_auth",
            "--max-examples", "25",
            "--generation-deterministic",
            "--workers", "1",
            "--request-timeout", "60",
            "--no-color",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )  # fmt: skip
    output = run.stdout + run.stderr
    # schemathesis exits non-zero on any failed check; the stateful phase must have run.
    assert run.returncode == 0, output
    assert "API Links:" in output and "Server error" not in output, output
