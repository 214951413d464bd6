"""Detection at scale: a synthetic CRM of a million customers, each rule and the whole scan
timed on SQLite and PostgreSQL against one hand-written SQL query, and case starts against
the dev server's raw start rate.

    python bench/detect.py [--customers 1000000] [--seed 7] [--db sqlite postgresql]
                           [--starts 10000] [--concurrency 20]

About ten rows per customer (orders, invoices, interactions, contacts, complaints, tickets),
generated reproducibly from the seed. The last line is `ratio=<scan seconds / hand-written
query seconds>`, the worse of the databases measured.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.detection import DetectionActivities
from closeout.contracts import CandidatePage
from closeout.crm.adapters import crm_from
from closeout.crm.models import (
    CrmComplaint,
    CrmContact,
    CrmCustomer,
    CrmInteraction,
    CrmInvoice,
    CrmOrder,
    CrmSupportTicket,
)
from closeout.db import Database, upgrade
from closeout.detection.config import DetectionConfig
from closeout.detection.detector import Candidate, Detector, Scan
from closeout.detection.repository import detection_repository
from closeout.detection.rules import RULES
from closeout.domain import ChurnClass, Trigger
from closeout.settings import Settings
from closeout.temporal import data_converter
from tests.postgres import running_postgres
from tests.support import VENV_BIN

BATCH = 50_000
TIERS = ("standard",) * 8 + ("high", "key")


def progress(label: str, done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    end = "\n" if done >= total else "\r"
    print(f"{label:<14} [{'#' * filled}{'.' * (width - filled)}] {done:>9}/{total}", end=end,
          file=sys.stderr, flush=True)  # fmt: skip


def synthetic_rows(n: int, seed: int, now: datetime) -> Iterator[tuple[Any, dict[str, Any]]]:
    """(table, row) for n customers; shaped so every rule flags a few percent of them."""
    rng = random.Random(seed)
    day = timedelta(days=1)
    for i in range(n):
        cid = f"c{i:07d}"
        created = now - day * rng.randint(200, 3000)
        # One record in 97 repeats the e-mail of the one before it; one in 331 has no way to
        # reach the customer at all (data quality).
        email = f"c{i - 1:07d}@example.org" if i % 97 == 1 else f"{cid}@example.org"
        unreachable = i % 331 == 5
        yield CrmCustomer, {
            "id": cid, "name": f"Customer {i}", "email": "" if unreachable else email,
            "phone": None, "owner": f"am{i % 50}@example.com",
            "value_tier": TIERS[i % len(TIERS)], "locale": "en", "status": "active",
            "created_at": created, "closed_at": None,
        }  # fmt: skip
        quiet = rng.random() < 0.04  # nothing for a long while
        recent = 400 if quiet else 5
        for k in range(rng.choice((2, 3, 4, 5, 6))):
            at = now - day * (recent + rng.randint(0, 300) + k)
            yield CrmOrder, {"id": f"{cid}o{k}", "customer_id": cid, "ordered_at": at,
                             "amount_cents": rng.randint(2_000, 400_000)}  # fmt: skip
        late = rng.random() < 0.03
        for k in range(rng.choice((1, 2, 3, 4))):
            due = now - day * rng.randint(-20, 200)
            unpaid = late and k < 2
            yield CrmInvoice, {
                "id": f"{cid}i{k}", "customer_id": cid, "number": f"INV-{cid}-{k}",
                "issued_at": due - 30 * day, "due_at": due - (60 * day if unpaid else 0 * day),
                "amount_cents": rng.randint(2_000, 300_000),
                "paid_at": None if unpaid else due - day * rng.randint(0, 20),
            }  # fmt: skip
        for k in range(rng.choice((1, 2, 3, 4))):
            yield CrmInteraction, {"id": f"{cid}x{k}", "customer_id": cid, "channel": "email",
                                   "at": now - day * (recent + rng.randint(0, 200)),
                                   "summary": "note"}  # fmt: skip
        yield CrmContact, {
            "id": f"{cid}ct", "customer_id": cid, "name": "Accounts",
            "email": "" if unreachable else f"a@{cid}.example",
            "phone": None, "is_primary": True,
            "bounce_count": 4 if rng.random() < 0.01 else 0,
        }  # fmt: skip
        for k in range(3 if rng.random() < 0.01 else rng.choice((0, 0, 0, 1))):
            yield CrmComplaint, {"id": f"{cid}c{k}", "customer_id": cid, "subject": "late",
                                 "at": now - day * rng.randint(0, 80), "is_dispute": k == 0,
                                 "resolved_at": None}  # fmt: skip
        if rng.random() < 0.3:
            hours = rng.choice((0.5, 1.0, 2.0, 3.0)) * (20 if rng.random() < 0.05 else 1)
            yield CrmSupportTicket, {"id": f"{cid}t", "customer_id": cid, "hours": hours,
                                     "opened_at": now - day * rng.randint(0, 80)}  # fmt: skip


def load(db: Database, n: int, seed: int, now: datetime) -> int:
    """Insert the synthetic CRM in batches (executemany, one transaction per batch)."""
    batches: dict[Any, list[dict[str, Any]]] = {}
    written = 0

    def flush(conn: Connection, model: Any) -> None:
        nonlocal written
        rows = batches.pop(model, [])
        if rows:
            conn.execute(model.__table__.insert(), rows)
            written += len(rows)

    customers = 0
    with db.engine.begin() as conn:
        for model, row in synthetic_rows(n, seed, now):
            batches.setdefault(model, []).append(row)
            if model is CrmCustomer:
                customers += 1
                if customers % 10_000 == 0:
                    progress("generating", customers, n)
            if len(batches[model]) >= BATCH:
                flush(conn, CrmCustomer)  # parents before children
                flush(conn, model)
        for model in (CrmCustomer, *list(batches)):
            flush(conn, model)
    progress("generating", n, n)
    # Statistics, and on PostgreSQL the visibility map autovacuum would keep in production.
    maintenance = "ANALYZE" if db.engine.dialect.name == "sqlite" else "VACUUM ANALYZE"
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(maintenance))
    return written


HAND_WRITTEN = """
WITH
lo AS (SELECT customer_id, MAX(ordered_at) AS last_order FROM crm_order GROUP BY customer_id),
li AS (SELECT customer_id, MAX(at) AS last_talk FROM crm_interaction GROUP BY customer_id),
arrears AS (
  SELECT i.customer_id FROM crm_invoice i JOIN crm_customer c ON c.id = i.customer_id
  WHERE c.status = 'active' AND i.paid_at IS NULL AND i.due_at < :overdue
  GROUP BY i.customer_id
  HAVING COUNT(*) >= :min_invoices OR SUM(i.amount_cents) >= :min_amount),
breakdown AS (
  SELECT k.customer_id FROM crm_complaint k JOIN crm_customer c ON c.id = k.customer_id
  WHERE c.status = 'active' AND k.at >= :complaints_since
  GROUP BY k.customer_id HAVING COUNT(*) >= :complaint_min),
unreachable AS (
  SELECT t.customer_id FROM crm_contact t JOIN crm_customer c ON c.id = t.customer_id
  LEFT JOIN li ON li.customer_id = t.customer_id
  WHERE c.status = 'active' AND t.is_primary AND t.bounce_count >= :bounces
    AND c.created_at < :unreachable AND (li.last_talk IS NULL OR li.last_talk < :unreachable)),
inactive AS (
  SELECT c.id AS customer_id FROM crm_customer c
  LEFT JOIN lo ON lo.customer_id = c.id LEFT JOIN li ON li.customer_id = c.id
  WHERE c.status = 'active' AND c.created_at < :inactive
    AND (lo.last_order IS NULL OR lo.last_order < :inactive)
    AND (li.last_talk IS NULL OR li.last_talk < :inactive)),
rev AS (SELECT customer_id, SUM(amount_cents) AS revenue FROM crm_order
        WHERE ordered_at >= :profit_since GROUP BY customer_id),
hrs AS (SELECT customer_id, SUM(hours) AS h FROM crm_support_ticket
        WHERE opened_at >= :profit_since GROUP BY customer_id),
unprofitable AS (
  SELECT hrs.customer_id FROM hrs JOIN crm_customer c ON c.id = hrs.customer_id
  LEFT JOIN rev ON rev.customer_id = hrs.customer_id
  WHERE c.status = 'active' AND hrs.h * :hour_cost > 0
    AND (COALESCE(rev.revenue, 0) - hrs.h * :hour_cost) * 100
        < :margin * COALESCE(rev.revenue, 0)),
load AS (
  SELECT t.customer_id, c.value_tier AS tier, SUM(t.hours) AS hours
  FROM crm_support_ticket t JOIN crm_customer c ON c.id = t.customer_id
  WHERE c.status = 'active' AND t.opened_at >= :drain_since
  GROUP BY t.customer_id, c.value_tier),
ranked AS (
  SELECT tier, hours, ROW_NUMBER() OVER (PARTITION BY tier ORDER BY hours) AS rn,
         COUNT(*) OVER (PARTITION BY tier) AS cnt FROM load),
median AS (
  SELECT tier, AVG(hours) AS m FROM ranked
  WHERE rn = (cnt + 1) / 2 OR rn = (cnt + 2) / 2 GROUP BY tier),
drain AS (
  SELECT load.customer_id FROM load JOIN median ON median.tier = load.tier
  WHERE median.m > 0 AND load.hours >= median.m * :ratio),
windows AS (
  SELECT o.customer_id,
         SUM(CASE WHEN o.ordered_at >= :drop_recent THEN 1 ELSE 0 END) AS recent,
         SUM(CASE WHEN o.ordered_at < :drop_recent THEN 1 ELSE 0 END) AS before
  FROM crm_order o JOIN crm_customer c ON c.id = o.customer_id
  WHERE c.status = 'active' AND o.ordered_at >= :drop_before AND o.ordered_at < :now
  GROUP BY o.customer_id),
declining AS (
  SELECT customer_id FROM windows
  WHERE before >= :drop_min_orders AND recent * 100 <= before * (100 - :drop_percent)),
keyed AS (
  SELECT id, created_at, 'email' AS field, LOWER(TRIM(email)) AS k FROM crm_customer
  WHERE status = 'active' AND TRIM(email) <> ''
  UNION ALL
  SELECT id, created_at, 'phone', REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(
    TRIM(phone), ' ', ''), '-', ''), '(', ''), ')', ''), '.', ''), '/', ''), '+', '')
  FROM crm_customer WHERE status = 'active' AND TRIM(phone) <> ''
  UNION ALL
  SELECT id, created_at, 'tax_id', UPPER(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(
    REPLACE(TRIM(tax_id), ' ', ''), '-', ''), '(', ''), ')', ''), '.', ''), '/', ''), '+', ''))
  FROM crm_customer WHERE status = 'active' AND TRIM(tax_id) <> ''),
duplicate AS (
  SELECT DISTINCT a.id AS customer_id FROM keyed a JOIN keyed b
  ON b.field = a.field AND b.k = a.k
  AND (b.created_at < a.created_at OR (b.created_at = a.created_at AND b.id < a.id))),
no_contact AS (
  SELECT c.id AS customer_id FROM crm_customer c
  WHERE c.status = 'active' AND TRIM(c.email) = '' AND COALESCE(TRIM(c.phone), '') = ''
  AND NOT EXISTS (SELECT 1 FROM crm_contact t WHERE t.customer_id = c.id
                  AND (TRIM(t.email) <> '' OR COALESCE(TRIM(t.phone), '') <> '')))
SELECT customer_id, 'data_quality' AS trigger FROM duplicate
UNION ALL SELECT customer_id, 'data_quality' FROM no_contact
UNION ALL SELECT customer_id, 'payment_arrears' AS trigger FROM arrears
UNION ALL SELECT customer_id, 'relationship_breakdown' FROM breakdown
UNION ALL SELECT customer_id, 'unreachable' FROM unreachable
UNION ALL SELECT customer_id, 'inactivity' FROM inactive
UNION ALL SELECT customer_id, 'unprofitable' FROM unprofitable
UNION ALL SELECT customer_id, 'resource_drain' FROM drain
UNION ALL SELECT customer_id, 'inactivity' FROM declining
"""


def hand_written(db: Database, cfg: DetectionConfig, now: datetime) -> int:
    """The same question asked in one query, written by hand: how many flags."""
    moment = CrmOrder.__table__.c.ordered_at.type  # type: ignore[attr-defined]

    def days(n: int) -> datetime:
        return now - timedelta(days=n)

    params = {
        "overdue": days(cfg.arrears_min_days_overdue),
        "complaints_since": days(cfg.complaint_window_days),
        "unreachable": days(cfg.unreachable_days),
        "inactive": days(cfg.inactivity_days),
        "profit_since": days(cfg.profit_window_days),
        "drain_since": days(cfg.drain_window_days),
        "drop_recent": days(cfg.order_drop_window_days),
        "drop_before": days(2 * cfg.order_drop_window_days),
        "now": now,
    }
    query = text(HAND_WRITTEN).bindparams(
        *(bindparam(name, value, type_=moment) for name, value in params.items()),
        min_invoices=cfg.arrears_min_invoices,
        min_amount=cfg.arrears_min_amount_cents,
        complaint_min=cfg.complaint_min,
        bounces=cfg.unreachable_min_bounces,
        hour_cost=cfg.support_hour_cost_cents,
        margin=cfg.unprofitable_below_margin_percent,
        ratio=cfg.drain_ratio,
        drop_min_orders=cfg.order_drop_min_orders,
        drop_percent=cfg.order_drop_min_percent,
    )
    with db.engine.connect() as conn:
        return len({row[0] for row in conn.execute(query)})


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def measure(name: str, url: str, args: argparse.Namespace) -> tuple[float, float]:
    upgrade(url)
    db = Database.from_url(url)
    now = datetime.now(UTC)
    rows, seconds = timed(lambda: load(db, args.customers, args.seed, now))
    print(f"[{name}] generated {rows:,} rows in {seconds:.1f} s", flush=True)
    cfg = DetectionConfig()
    detector = Detector(db, cfg)
    for rule in RULES:
        found, seconds = timed(partial(detector.run_rule, rule, now))
        print(f"[{name}] rule {rule.name:<24} {len(found):>7} flagged  {seconds:6.2f} s")
    scan, scan_s = timed(lambda: detector.scan(now))
    flagged, hand_s = timed(lambda: hand_written(db, cfg, now))
    print(f"[{name}] whole scan {len(scan.candidates):>7} customers  {scan_s:6.2f} s")
    print(f"[{name}] hand-written query {flagged:>7} customers  {hand_s:6.2f} s")
    print(f"[{name}] scan/hand-written {scan_s / hand_s:.2f}", flush=True)
    db.engine.dispose()
    return scan_s, hand_s


async def start_rates(args: argparse.Namespace, root: Path) -> tuple[float, float]:
    """Raw starts of a bare workflow type vs. the detection activity opening 10k cases."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(VENV_BIN / "temporal"),
        dev_server_extra_args=["--sqlite-pragma", "journal_mode=wal"],
    )
    try:
        client: Client = env.client
        gate = asyncio.Semaphore(args.concurrency)

        async def raw(i: int) -> None:
            async with gate:
                await client.start_workflow("RawStart", id=f"raw-{i}", task_queue="bench-raw")

        _, raw_s = await _atimed(lambda: asyncio.gather(*(raw(i) for i in range(args.starts))))
        url = f"sqlite:///{root}/starts.db"
        upgrade(url)
        db = Database.from_url(url)
        with db.engine.begin() as conn:
            conn.execute(
                CrmCustomer.__table__.insert(),  # type: ignore[attr-defined]
                [row for model, row in synthetic_rows(args.starts, 1, datetime.now(UTC))
                 if model is CrmCustomer],
            )  # fmt: skip
        settings = Settings(dev_mode=True, database_url=url)
        settings.detection.max_concurrent_starts = args.concurrency
        run_id = str(uuid.uuid4())
        flagged = [
            Candidate(f"c{i:07d}", Trigger.INACTIVITY, ChurnClass.NATURAL, {"inactive_days": 400})
            for i in range(args.starts)
        ]
        detection_repository(settings, db).record_scan(run_id, Scan(datetime.now(UTC), flagged))

        # Cases start as the worker starts them: with the payload codec's encryption.
        sealing = Client(
            client.service_client,
            namespace=client.namespace,
            data_converter=data_converter(settings),
        )

        async def client_of() -> Client:
            return sealing

        activities = DetectionActivities(settings, db, crm_from(settings, db), client_of)
        after: str | None = None

        async def all_pages() -> int:
            nonlocal after
            started = 0
            while True:
                outcome = await ActivityEnvironment().run(
                    activities.open_flagged_cases, CandidatePage(run_id, after, 500)
                )
                started += outcome.done
                after = outcome.last
                if outcome.finished:
                    return started

        started, ours_s = await _atimed(all_pages)
        assert started == args.starts, started
        return args.starts / raw_s, args.starts / ours_s
    finally:
        await env.shutdown()


async def _atimed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = await fn()
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgresql"],
                        choices=["sqlite", "postgresql"])  # fmt: skip
    parser.add_argument("--starts", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    ratios: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if "sqlite" in args.db:
            scan_s, hand_s = measure("sqlite", f"sqlite:///{root}/crm.db", args)
            ratios.append(scan_s / hand_s)
        if "postgresql" in args.db:
            with running_postgres() as server:
                with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
                    conn.execute('CREATE DATABASE "bench"')
                scan_s, hand_s = measure("postgresql", f"{server}/bench", args)
                ratios.append(scan_s / hand_s)
        if args.starts:
            raw, ours = asyncio.run(start_rates(args, root))
            print(f"starts: raw {raw:.0f}/s, detection {ours:.0f}/s, ratio {ours / raw:.2f}")
    print(f"ratio={max(ratios):.2f}")


if __name__ == "__main__":
    main()
