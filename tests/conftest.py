"""Fixtures shared by every test: a migrated database, a real SMTP sink, settings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from closeout.db import Database, upgrade
from closeout.domain import DataCategory
from closeout.policy_config import STANDARD_POLICY, PolicyConfig
from closeout.settings import Settings
from tests.support import MailSink, start_mail_sink

pytest_plugins = [
    "tests.postgres",
    "tests.scim_service",
    "tests.moto_server",
    "tests.s3_server",
    "tests.kms_server",
    "tests.timeouts",
]

# The spine's policy: every category kept three years, then deleted at once.
ONE_PERIOD = STANDARD_POLICY.model_copy(update={"category_retention": {}, "jurisdictions": {}})

YEAR = timedelta(days=365)
# Each data category kept for its own period, shaped like the shipped default but within the
# ten years the time-skipping test server lets a workflow run (a real server has no limit).
BY_CATEGORY = STANDARD_POLICY.model_copy(
    update={
        "deletion_confirmation": True,
        "category_retention": {
            DataCategory.MARKETING_DATA: timedelta(0),
            DataCategory.CONTACT_DATA: timedelta(days=90),
            DataCategory.INTERACTION_HISTORY: YEAR,
            DataCategory.CONTRACTS: 3 * YEAR,
            DataCategory.ACCOUNTING_RECORDS: 7 * YEAR,
        },
        "jurisdictions": {"CN": {DataCategory.ACCOUNTING_RECORDS: 9 * YEAR}},
    }
)

# A policy with short waits for workflow tests that do not skip time.
QUICK_POLICY = PolicyConfig(
    win_back_window=timedelta(days=14),
    notice_period=timedelta(days=30),
    approval_due=timedelta(days=7),
    retention=timedelta(days=3 * 365),
)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/closeout.db"
    upgrade(url)
    return url


@pytest.fixture
def mail() -> Iterator[MailSink]:
    sink, controller = start_mail_sink()
    yield sink
    controller.stop()


def make_settings(
    tmp_path: Path, database_url: str, mail: MailSink, **overrides: object
) -> Settings:
    values: dict[str, object] = {
        "dev_mode": True,
        "database_url": database_url,
        "smtp_port": mail.port,
        "archive_dir": tmp_path / "archive",
        "var_dir": tmp_path / "var",
        "mail_catcher_dir": tmp_path / "mailbox",
        "policies": {
            "standard": ONE_PERIOD,
            "confirming": ONE_PERIOD.model_copy(update={"deletion_confirmation": True}),
            "by-category": BY_CATEGORY,
            "cooling-off": BY_CATEGORY.model_copy(
                update={"request_cooling_off": timedelta(days=2)}
            ),
        },
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str, mail: MailSink) -> Settings:
    return make_settings(tmp_path, sqlite_url, mail)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database.from_url(settings.database_url)
    yield database
    database.engine.dispose()
