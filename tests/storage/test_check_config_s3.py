"""`closeout check-config` against object storage (a real S3 endpoint): the archive bucket
takes a probe and gives it back, the ledger bucket must have Object Lock."""

from __future__ import annotations

from closeout.config_check import Check, Severity, check_archive, check_ledger
from closeout.settings import Settings
from tests.s3_server import S3Service


def _settings(s3: S3Service, archive: str, ledger: str) -> Settings:
    return Settings(
        dev_mode=True,
        archive_store="s3",
        s3_bucket=archive,
        s3_endpoint_url=s3.endpoint_url,
        suppression_ledger_store="s3",
        ledger_s3_bucket=ledger,
    )


def test_reachable_buckets_pass_and_the_probe_leaves_nothing(s3: S3Service) -> None:
    archive, ledger = s3.bucket(versioned=True), s3.bucket(object_lock=True)
    settings = _settings(s3, archive, ledger)
    assert check_archive(settings) == [] and check_ledger(settings) == []
    client = s3.client()
    left = client.list_object_versions(Bucket=archive)
    assert not left.get("Versions") and not left.get("DeleteMarkers")


def test_a_ledger_bucket_without_object_lock_and_a_missing_archive_bucket_are_problems(
    s3: S3Service,
) -> None:
    settings = _settings(s3, "closeout-no-such-bucket", s3.bucket(versioned=True))
    (archive,) = check_archive(settings)
    assert archive.check is Check.ARCHIVE and archive.severity is Severity.PROBLEM
    assert "closeout-no-such-bucket" in archive.message
    (ledger,) = check_ledger(settings)
    assert ledger.check is Check.LEDGER and "does not have Object Lock" in ledger.message
