"""A production configuration checked before it runs: `closeout check-config`.

Each check returns findings, one line each, naming the setting to change. A problem means a
process started with this configuration would fail or lose something (a ledger it cannot
append to makes every deletion retry forever); a warning is a choice production should not
make (dev mode, a public address without https). The settings are read the same way every
process reads them, so a configuration this passes is one the API and the worker accept.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy.exc import SQLAlchemyError

from closeout.archive import archive_store_from
from closeout.db import alembic_config, make_engine
from closeout.settings import Settings
from closeout.storage.settings import ArchiveStoreKind, LedgerStore

# Long enough for a frontend across a network, short enough for a container's health check.
TEMPORAL_TIMEOUT_SECONDS = 5.0


class Severity(StrEnum):
    PROBLEM = "problem"
    WARNING = "warning"


class Check(StrEnum):
    """The checks, by the name `--skip` takes."""

    SETTINGS = "settings"
    DEV_MODE = "dev-mode"
    PUBLIC_URL = "public-url"
    ARCHIVE = "archive"
    LEDGER = "ledger"
    DATABASE = "database"
    TEMPORAL = "temporal"


@dataclass(frozen=True)
class Finding:
    """One thing wrong with the configuration, said in one line."""

    check: Check
    severity: Severity
    message: str

    @property
    def line(self) -> str:
        return f"{self.severity}: {self.check}: {self.message}"


def read_settings() -> tuple[Settings | None, list[Finding]]:
    """The settings as every process reads them, or one finding per refused value."""
    try:
        return Settings(), []
    except ValidationError as exc:
        return None, [
            Finding(Check.SETTINGS, Severity.PROBLEM, _refusal(error)) for error in exc.errors()
        ]


def _refusal(error: ErrorDetails) -> str:
    """A pydantic error as one line: the variable it concerns (when it is one field), the why."""
    message = str(error["msg"]).removeprefix("Value error, ")
    location = [str(part) for part in error["loc"]]
    if not location:
        return message
    return f"CLOSEOUT_{'__'.join(location).upper()}: {message}"


def check_dev_mode(settings: Settings) -> list[Finding]:
    if not settings.dev_mode:
        return []
    return [
        Finding(
            Check.DEV_MODE,
            Severity.WARNING,
            "CLOSEOUT_DEV_MODE is on: demo password, built-in secrets and plain payloads are "
            "accepted; turn it off in production",
        )
    ]


def check_public_url(settings: Settings) -> list[Finding]:
    if settings.dev_mode or settings.base_url.startswith("https://"):
        return []
    return [
        Finding(
            Check.PUBLIC_URL,
            Severity.WARNING,
            f"CLOSEOUT_PUBLIC_BASE_URL is {settings.base_url!r}: customers' links should use "
            "https (sign-in cookies are sent over https only outside dev mode)",
        )
    ]


def _probe_name() -> str:
    return f".closeout-check-config-{secrets.token_hex(8)}"


def check_archive(settings: Settings) -> list[Finding]:
    """A probe put into the archive store and deleted again, through the one store builder."""
    where = (
        f"bucket {settings.s3_bucket!r}"
        if settings.archive_store is ArchiveStoreKind.S3
        else f"CLOSEOUT_ARCHIVE_DIR={settings.archive_dir}"
    )
    key = _probe_name()
    refusals: tuple[type[Exception], ...] = (OSError, ValueError, *_object_storage_errors(settings))
    try:
        store = archive_store_from(settings)
        store.put(key, b"closeout check-config probe\n")
        store.delete(key)
    except refusals as exc:
        return [Finding(Check.ARCHIVE, Severity.PROBLEM, f"{where}: cannot write ({_why(exc)})")]
    return []


def check_ledger(settings: Settings) -> list[Finding]:
    """The suppression ledger can be appended to: its file's folder (and the file) writable,
    or its bucket reachable with Object Lock on."""
    if settings.suppression_ledger_store is LedgerStore.S3:
        # The ledger's own builder, so the check sees the bucket the worker will use.
        from closeout.storage.s3 import ObjectStorageError
        from closeout.suppression.object_ledger import object_ledger_from

        try:
            object_ledger_from(settings).require_object_lock()
        except ObjectStorageError as exc:
            return [Finding(Check.LEDGER, Severity.PROBLEM, str(exc))]
        return []
    path = settings.suppression_ledger_path
    name = "CLOSEOUT_SUPPRESSION_LEDGER" if settings.suppression_ledger else "the default ledger"

    probe = path.parent / _probe_name()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
        if path.exists() and not os.access(path, os.W_OK):
            raise PermissionError(13, "the file is not writable")
    except OSError as exc:
        return [
            Finding(
                Check.LEDGER,
                Severity.PROBLEM,
                f"{name}={path}: cannot append ({_why(exc)}); every deletion would wait on it",
            )
        ]
    return []


def check_database(settings: Settings) -> list[Finding]:
    """The database answers and its schema is at the newest migration."""
    url = settings.database_url
    heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc  # the driver's own words, without the SQL
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        why = f"CLOSEOUT_DATABASE_URL: unreachable ({first})"
        return [Finding(Check.DATABASE, Severity.PROBLEM, why)]
    finally:
        engine.dispose()
    if current != heads:
        at = ", ".join(sorted(current)) or "no migration"
        return [
            Finding(
                Check.DATABASE,
                Severity.PROBLEM,
                f"the schema is at {at}, not {', '.join(sorted(heads))}: run `closeout db upgrade`",
            )
        ]
    return []


def check_temporal(settings: Settings, timeout: float = TEMPORAL_TIMEOUT_SECONDS) -> list[Finding]:
    """The Temporal frontend answers, over the TLS the settings describe."""
    from closeout.temporal import TemporalUnreachable, connect

    async def reach() -> None:
        await asyncio.wait_for(connect(settings), timeout)

    try:
        asyncio.run(reach())
    except TemporalUnreachable as exc:
        return [Finding(Check.TEMPORAL, Severity.PROBLEM, str(exc))]
    except TimeoutError:
        return [
            Finding(
                Check.TEMPORAL,
                Severity.PROBLEM,
                f"no answer from Temporal at {settings.temporal_address} within {timeout:g} s",
            )
        ]
    return []


def _object_storage_errors(settings: Settings) -> tuple[type[Exception], ...]:
    """The object store's own error, when the settings use one (boto3 is loaded only then)."""
    if settings.archive_store is not ArchiveStoreKind.S3:
        return ()
    from closeout.storage.s3 import ObjectStorageError

    return (ObjectStorageError,)


def _why(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


CHECKS: dict[Check, Callable[[Settings], list[Finding]]] = {
    Check.DEV_MODE: check_dev_mode,
    Check.PUBLIC_URL: check_public_url,
    Check.ARCHIVE: check_archive,
    Check.LEDGER: check_ledger,
    Check.DATABASE: check_database,
    Check.TEMPORAL: check_temporal,
}


def check_configuration(skip: Iterable[Check] = ()) -> list[Finding]:
    """Every check but those skipped: the settings first, the rest only once they load."""
    settings, findings = read_settings()
    if settings is None:
        return findings
    skipped = set(skip)
    for check, run in CHECKS.items():
        if check not in skipped:
            findings.extend(run(settings))
    return findings


def failed(findings: Iterable[Finding], strict: bool = False) -> bool:
    """Whether the findings stop the configuration: any problem, or with `strict` any at all."""
    return any(strict or f.severity is Severity.PROBLEM for f in findings)
