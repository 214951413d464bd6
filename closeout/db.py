"""Database engine, sessions and schema migrations."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Table, event
from sqlmodel import Session, SQLModel, create_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def table_of(model: type[SQLModel]) -> Table:
    """A model's table, for Core statements built once at import."""
    return model.__table__  # type: ignore[attr-defined,no-any-return]


def make_engine(url: str, pool_size: int | None = None) -> Engine:
    """An engine for SQLite (WAL, waits on locks) or PostgreSQL (psycopg 3); `pool_size`
    connections kept open to PostgreSQL, as many again opened at a peak (default 5 + 10)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # Timestamps are stored without a zone, as UTC, whatever the server's own zone is.
    pool = {} if pool_size is None else {"pool_size": pool_size, "max_overflow": pool_size}
    # hide_parameters: an error's message never quotes the values of the rows it failed on.
    return create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"options": "-c timezone=UTC"},
        hide_parameters=True,
        **pool,
    )


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split(":///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Deleted rows are overwritten with zeros in the file, not left in free pages.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


# A checkpoint refused (another one running, a reader on an old snapshot) is tried again this
# many times, this many seconds apart, before the caller hears of it.
CHECKPOINT_ATTEMPTS = 10
CHECKPOINT_PAUSE = 0.05
_CHECKPOINTS = threading.Lock()


class Database:
    """Hands out sessions on one engine; every unit of work commits or rolls back whole."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def from_url(cls, url: str, pool_size: int | None = None) -> Database:
        return cls(make_engine(url, pool_size))

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection in one transaction, for Core statements: committed whole or not at all."""
        with self.engine.begin() as connection:
            yield connection

    def release_freed_pages(self) -> bool:
        """Leave no copy of deleted rows in the database's files; False when a reader kept
        that from finishing (try again).

        On SQLite, secure_delete zeroes what a delete frees; the write-ahead log still holds
        the pages as they were before, until a checkpoint copies the new ones back and
        truncates it. On PostgreSQL this does nothing: dead tuples and WAL segments keep old
        row versions until vacuum and recycling overwrite them (README, "Security").
        """
        if self.engine.dialect.name != "sqlite":
            return True
        # Two checkpoints at once refuse each other at once (no waiting on the other): the
        # process's own take turns, and a refusal is tried again a few times before giving up.
        for attempt in range(CHECKPOINT_ATTEMPTS):
            if attempt:
                time.sleep(CHECKPOINT_PAUSE)
            with _CHECKPOINTS, self.engine.connect() as connection:
                busy, _frames, _copied = connection.exec_driver_sql(
                    "PRAGMA wal_checkpoint(TRUNCATE)"
                ).one()
            if not busy:
                return True
        return False

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply the schema migrations to the database at `url`."""
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
    command.upgrade(alembic_config(url), revision)
