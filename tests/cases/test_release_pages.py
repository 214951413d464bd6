"""Deleted rows leave no copy in SQLite's write-ahead log: the checkpoint that truncates it
holds when several run at once beside a writer (each a verification of its own deletion)."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text

from closeout.db import Database


def _race(database: Database, path: Path) -> list[bool]:
    with database.transaction() as conn:
        conn.execute(text("CREATE TABLE scratch (n INTEGER, words TEXT)"))
    stop = threading.Event()

    def write() -> None:
        n = 0
        while not stop.is_set():
            with database.transaction() as conn:
                conn.execute(text("INSERT INTO scratch VALUES (:n, 'x')"), {"n": n})
                conn.execute(text("DELETE FROM scratch WHERE n < :n"), {"n": n})
            n += 1

    results: list[bool] = []

    def verify() -> None:
        for _ in range(15):
            results.append(database.release_freed_pages())

    writer = threading.Thread(target=write)
    writer.start()
    checkers = [threading.Thread(target=verify) for _ in range(4)]
    for t in checkers:
        t.start()
    for t in checkers:
        t.join()
    stop.set()
    writer.join()
    return results


def test_checkpoints_at_once_all_complete(tmp_path: Path) -> None:
    database = Database.from_url(f"sqlite:///{tmp_path}/c.db")
    assert all(_race(database, tmp_path))
    assert database.release_freed_pages()
    assert (tmp_path / "c.db-wal").stat().st_size == 0  # truncated: no old page left in it
    database.engine.dispose()
