"""Fixtures shared by every test: a migrated database, a real SMTP sink, settings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from closeout.db import Database, upgrade
from closeout.settings import STANDARD_POLICY, PolicyConfig, Settings
from tests.support import MailSink, start_mail_sink

pytest_plugins = ["tests.postgres"]

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
            "standard": STANDARD_POLICY,
            "confirming": STANDARD_POLICY.model_copy(update={"deletion_confirmation": True}),
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
