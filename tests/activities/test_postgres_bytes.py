"""On PostgreSQL, no file of the server holds a deleted customer's words.

PostgreSQL keeps a row's old versions in its heap (dead tuples) and in its write-ahead log
until vacuum and recycling overwrite them, which nothing schedules: an erased column is still
on disk. So Closeout writes a customer's words sealed under their own key and destroys the key
at deletion. This test runs a server of its own, plants a customer's words in every column
that can hold them through the real write paths, deletes the customer, checkpoints, and reads
every file of the server as raw bytes. A control written unsealed, as a column outside the
list would be, shows that the scan would find words left behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlmodel import select
from temporalio.testing import ActivityEnvironment

from closeout.cases.models import TaskRecord
from closeout.db import Database, upgrade
from tests.activities.conftest import World
from tests.activities.planting import plant_words
from tests.conftest import make_settings
from tests.postgres import running_postgres
from tests.support import MailSink

run = ActivityEnvironment().run


@pytest.fixture
def own_postgres() -> Iterator[tuple[str, Path]]:
    """A server of this test's own (its files hold nothing else), and its data directory."""
    with running_postgres() as server:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute('CREATE DATABASE "closeout"')
            found = conn.execute("SHOW data_directory").fetchone()
        assert found is not None
        url = f"{server}/closeout"
        upgrade(url)
        yield url, Path(found[0])


def _files_holding(data_dir: Path, needle: bytes) -> list[str]:
    return [
        str(path.relative_to(data_dir))
        for path in sorted(data_dir.rglob("*"))
        if path.is_file() and needle in path.read_bytes()
    ]


def test_no_file_of_postgresql_holds_the_deleted_customers_words(
    own_postgres: tuple[str, Path], tmp_path: Path, mail: MailSink
) -> None:
    url, data_dir = own_postgres
    db = Database.from_url(url)
    try:
        world = World(make_settings(tmp_path, url, mail), db)
        customer = world.customer()
        case_id = world.case(customer)
        words = f"Zelda Quux {uuid.uuid4().hex[:8]}"
        plant_words(world, customer, case_id, words)
        # The control: words written past the sealing, as a column missing from the list.
        control = f"Control Words {uuid.uuid4().hex[:8]}"
        with db.session() as session:
            row = session.exec(select(TaskRecord).where(TaskRecord.case_id == case_id)).first()
            assert row is not None
            row.comment = control
            session.add(row)

        run(world.activities.delete_customer_data, world.step(case_id, customer, "deleted"))
        run(world.activities.verify_deletion, world.step(case_id, customer, "verified"))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    finally:
        db.engine.dispose()

    assert _files_holding(data_dir, control.encode()), "the scan finds unsealed words"
    assert _files_holding(data_dir, words.encode()) == []
