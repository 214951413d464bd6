"""A whole case on the stack as several hosts would run it: archives in an S3 bucket, the
suppression ledger in an Object Lock bucket, the master keys in KMS (moto's real endpoints)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from closeout.settings import Settings
from closeout.suppression.object_ledger import object_ledger_from
from tests.integration.helpers import decide, new_customer, open_case, open_task, wait_case
from tests.integration.stack import Stack, start_stack
from tests.kms_server import KmsServer
from tests.s3_server import S3Service

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cloud_stack(
    tmp_path_factory: pytest.TempPathFactory, s3: S3Service, kms_server: KmsServer
) -> Iterator[Stack]:
    pair = kms_server.new_key_pair()
    yield from start_stack(
        Path(tmp_path_factory.mktemp("cloud")),
        CLOSEOUT_ARCHIVE_STORE="s3",
        CLOSEOUT_S3_BUCKET=s3.bucket(versioned=True),
        CLOSEOUT_S3_PREFIX="archive/",
        CLOSEOUT_S3_ENDPOINT_URL=s3.endpoint_url,
        CLOSEOUT_SUPPRESSION_LEDGER_STORE="s3",
        CLOSEOUT_LEDGER_S3_BUCKET=s3.bucket(object_lock=True),
        CLOSEOUT_KEY_RING="kms",
        CLOSEOUT_KMS_KEYS=json.dumps({"2026": pair.model_dump()}),
        CLOSEOUT_MASTER_KEY_ID="2026",
        CLOSEOUT_KMS_ENDPOINT_URL=kms_server.url,
        CLOSEOUT_KMS_REGION=kms_server.region,
    )


def _stored(s3: S3Service, bucket: str, prefix: str) -> list[bytes]:
    """Every version of every object under `prefix` that holds data."""
    client = s3.client()
    versions = client.list_object_versions(Bucket=bucket, Prefix=prefix).get("Versions", [])
    return [
        client.get_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])["Body"].read()
        for v in versions
    ]


def test_a_case_archives_to_s3_and_is_deleted_from_it(cloud_stack: Stack, s3: S3Service) -> None:
    stack = cloud_stack
    archive_bucket = stack.env["CLOSEOUT_S3_BUCKET"]
    customer = new_customer(stack)
    with stack.client("owner") as api:
        case_id = open_case(api, customer)["case_id"]
        decide(api, open_task(api, case_id, "win_back")["id"], "failed")
        decide(api, open_task(api, case_id, "approval")["id"], "approve")
        wait_case(api, case_id, stage="retention")
        # Retained: the bundles are in the bucket, sealed under keys KMS wrapped.
        bundles = _stored(s3, archive_bucket, f"archive/{customer}/")
        assert bundles and not any(f"Integration {customer}".encode() in b for b in bundles)
        final = wait_case(api, case_id, outcome="deleted")
        assert final["stage"] == "closed"
    # No version of any of the customer's objects is left, and nothing went to the local disk.
    assert _stored(s3, archive_bucket, f"archive/{customer}/") == []
    assert not stack.archive_dir.exists() or not any(stack.archive_dir.rglob("*"))
    assert not (stack.root / "suppression-ledger.jsonl").exists()
    # The ledger in its Object Lock bucket names the customer, by a keyed reference only.
    with pytest.MonkeyPatch.context() as environment:
        for name, value in _cloud_env(stack):
            environment.setenv(name, value)
        ledger = object_ledger_from(Settings())
    assert ledger.is_suppressed(customer) and ledger.check().first_bad_line is None
    entries = _stored(s3, stack.env["CLOSEOUT_LEDGER_S3_BUCKET"], "suppression-ledger/")
    assert entries and not any(customer.encode() in e for e in entries)
    with stack.client("compliance") as compliance:
        certificate = compliance.get(f"/api/cases/{case_id}/certificate").json()
    # Signed with a key derived from the KMS root of ring id 2026.
    assert certificate["authentic"] and certificate["certificate"]["policy"] == "demo"


def _cloud_env(stack: Stack) -> list[tuple[str, str]]:
    wanted = ("CLOSEOUT_DEV_MODE", "CLOSEOUT_SECRET_KEY", "CLOSEOUT_S3_", "CLOSEOUT_LEDGER_")
    wanted += ("CLOSEOUT_SUPPRESSION_LEDGER_STORE", "CLOSEOUT_KEY_RING", "CLOSEOUT_KMS_")
    wanted += ("CLOSEOUT_MASTER_KEY_ID", "CLOSEOUT_ARCHIVE_STORE")
    return [(k, v) for k, v in stack.env.items() if k.startswith(wanted)]
