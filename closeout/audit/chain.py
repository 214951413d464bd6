"""Appending to the hash chain, erasing personal content, and verifying the whole chain."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert
from sqlmodel import Session, col, select, update

from closeout.audit.models import AuditChainHead, AuditEvent
from closeout.contracts import AuditEntry
from closeout.db import table_of

GENESIS = "0" * 64
_EVENTS = table_of(AuditEvent)
_HEAD = table_of(AuditChainHead)
HEAD_ID = 1
# The event that records which events had their personal content erased, by sequence number.
ERASURE_ACTION = "audit_content_erased"
# Detail values that stay after erasure: identifiers, digests, codes and numbers.
_KEPT_TEXT = {
    "action",
    "categories",
    "category",
    "churn_class",
    "decision",
    "kind",
    "outcome",
    "policy",
    "stage",
    "status",
    "stores_checked",
    "trigger",
}
_KEPT_SUFFIXES = ("_id", "_ids", "_sha256", "_at", "_code")


def _canonical(obj: Any) -> bytes:
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def _utc(at: datetime) -> str:
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.isoformat(timespec="microseconds")


def content_digest(reason: str | None, details: dict[str, Any]) -> str:
    """The digest of what erasure may remove: the free-text reason and the details."""
    normalised = json.loads(_canonical(details))
    return hashlib.sha256(_canonical({"reason": reason, "details": normalised})).hexdigest()


def event_digest(event: AuditEvent) -> str:
    return _digest(
        event.seq,
        event.id,
        event.case_id,
        event.at,
        event.actor,
        event.action,
        event.content_sha256,
        event.prev_hash,
    )


def _digest(
    seq: int,
    event_id: str,
    case_id: str | None,
    at: datetime,
    actor: str,
    action: str,
    content_sha256: str,
    prev_hash: str,
) -> str:
    facts = {
        "seq": seq,
        "id": event_id,
        "case_id": case_id,
        "at": _utc(at),
        "actor": actor,
        "action": action,
        "content_sha256": content_sha256,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(_canonical(facts)).hexdigest()


# Built once: appends run in every activity, and building a statement costs more than running it.
_EXISTS = select(_EVENTS.c.id).where(_EVENTS.c.id == bindparam("event_id"))
# The update locks the head row until commit: appends are serial on every database.
_CLAIM = (
    update(_HEAD)
    .where(_HEAD.c.id == HEAD_ID)
    .values(seq=_HEAD.c.seq + 1)
    .returning(_HEAD.c.seq, _HEAD.c.hash)
)
_INSERT = insert(_EVENTS)
_SET_HEAD = update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(hash=bindparam("new_hash"))


# An event's reason and details read back from what the row keeps (sealed under the
# customer's key, say); the chain's digests are always of the plain content.
Content = Callable[[str | None, dict[str, Any]], tuple[str | None, dict[str, Any]]]


def canonical_details(details: dict[str, Any]) -> dict[str, Any]:
    """The details as the chain keeps and digests them (dates as ISO text, keys sorted)."""
    normalised: dict[str, Any] = json.loads(_canonical(details))
    return normalised


def append(
    session: Session,
    case_id: str | None,
    entry: AuditEntry,
    stored: tuple[str | None, dict[str, Any]] | None = None,
) -> bool:
    """Chain one event to the end of the trail; False when it was already written.

    Core statements on the session's connection: appends run in every activity, and the ORM's
    bookkeeping around them cost more than the statements themselves.
    """
    session.flush()  # rows changed before the append are written first, as they always were
    return append_on(session.connection(), case_id, entry, stored)


def append_on(
    connection: Connection,
    case_id: str | None,
    entry: AuditEntry,
    stored: tuple[str | None, dict[str, Any]] | None = None,
) -> bool:
    """`append` inside a transaction already open on `connection`; `stored` is what the row
    keeps of the entry's reason and canonical details, when not those themselves."""
    if connection.execute(_EXISTS, {"event_id": entry.event_id}).first():
        return False
    seq, prev_hash = connection.execute(_CLAIM).one()
    details = canonical_details(entry.details)
    content = content_digest(entry.reason, details)
    digest = _digest(
        int(seq), entry.event_id, case_id, entry.at, entry.actor, entry.action, content, prev_hash
    )
    reason = entry.reason
    if stored is not None:
        reason, details = stored
    connection.execute(
        _INSERT,
        {
            "id": entry.event_id,
            "seq": int(seq),
            "case_id": case_id,
            "at": entry.at,
            "actor": entry.actor,
            "action": entry.action,
            "reason": reason,
            "details": details,
            "content_sha256": content,
            "prev_hash": prev_hash,
            "hash": digest,
        },
    )
    connection.execute(_SET_HEAD, {"new_hash": digest})
    return True


def _kept(key: str, value: Any) -> Any:
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, dict):
        kept = {k: _kept(k, v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not _DROP}
    if isinstance(value, list):
        items = [_kept(key, v) for v in value]
        return [v for v in items if v is not _DROP]
    if isinstance(value, str) and (key in _KEPT_TEXT or key.endswith(_KEPT_SUFFIXES)):
        return value
    return _DROP


_DROP = object()


def non_personal(details: dict[str, Any]) -> dict[str, Any]:
    """The details without free text: identifiers, digests, codes and numbers remain."""
    kept = _kept("", details)
    assert isinstance(kept, dict)
    return kept


def erase_case_content(session: Session, case_id: str, erasure: AuditEntry) -> list[int]:
    """Remove reasons and free-text details from a case's events, then record which.

    Idempotent: once the erasure event exists, nothing more is erased for it.
    """
    if session.get(AuditEvent, erasure.event_id) is not None:
        return []
    events = session.exec(
        select(AuditEvent)
        .where(AuditEvent.case_id == case_id, col(AuditEvent.erased_at).is_(None))
        .order_by(col(AuditEvent.seq))
    ).all()
    now = erasure.at
    erased: list[int] = []
    for event in events:
        kept = non_personal(event.details)
        if event.reason is None and kept == event.details:
            continue
        event.reason = None
        event.details = kept
        event.erased_at = now
        session.add(event)
        erased.append(event.seq)
    session.flush()
    append(
        session,
        case_id,
        AuditEntry(
            event_id=erasure.event_id,
            actor=erasure.actor,
            action=ERASURE_ACTION,
            at=erasure.at,
            reason=None,
            details={"erased_seqs": erased, "events": len(erased)},
        ),
    )
    return erased


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    event_id: str | None
    problem: str

    def __str__(self) -> str:
        where = f"event #{self.seq}" + (f" ({self.event_id})" if self.event_id else "")
        return f"{where}: {self.problem}"


@dataclass(frozen=True)
class ChainReport:
    events: int
    erased: int
    first_break: ChainBreak | None

    @property
    def intact(self) -> bool:
        return self.first_break is None


def _walk(
    events: Iterable[AuditEvent], head: AuditChainHead | None, read: Content | None = None
) -> ChainReport:
    expected_seq, prev_hash = 1, GENESIS
    count = erased_count = 0
    erased: dict[int, str] = {}
    listed: set[int] = set()
    for event in events:
        count += 1
        if event.seq != expected_seq:
            return ChainReport(
                count,
                erased_count,
                ChainBreak(expected_seq, None, f"missing (the next event is #{event.seq})"),
            )
        if event.prev_hash != prev_hash:
            problem = f"does not follow event #{expected_seq - 1}"
            return ChainReport(count, erased_count, ChainBreak(event.seq, event.id, problem))
        if event_digest(event) != event.hash:
            problem = "changed: its hash does not match its facts"
            return ChainReport(count, erased_count, ChainBreak(event.seq, event.id, problem))
        if event.erased_at is None:
            reason, details = (event.reason, event.details)
            if read is not None:
                reason, details = read(reason, details)
            if content_digest(reason, details) != event.content_sha256:
                problem = "changed: its reason or details do not match their digest"
                return ChainReport(count, erased_count, ChainBreak(event.seq, event.id, problem))
        else:
            erased_count += 1
            erased[event.seq] = event.id
        if event.action == ERASURE_ACTION:
            listed.update(int(s) for s in event.details.get("erased_seqs", []))
        prev_hash, expected_seq = event.hash, expected_seq + 1
    unlisted = sorted(set(erased) - listed)
    if unlisted:
        seq = unlisted[0]
        problem = "marked erased, but no erasure event names it"
        return ChainReport(count, erased_count, ChainBreak(seq, erased[seq], problem))
    if head is not None and (head.seq, head.hash) != (expected_seq - 1, prev_hash):
        problem = f"missing: the chain ends at #{expected_seq - 1}, its head says #{head.seq}"
        return ChainReport(count, erased_count, ChainBreak(expected_seq, None, problem))
    return ChainReport(count, erased_count, None)


def verify(session: Session, read: Content | None = None, batch: int = 5_000) -> ChainReport:
    """Walk the whole trail in order; report the first link that does not hold. `read` opens
    sealed content (without it, a sealed event reads as changed)."""
    head = session.get(AuditChainHead, HEAD_ID)
    events = session.exec(
        select(AuditEvent).order_by(col(AuditEvent.seq)).execution_options(yield_per=batch)
    )
    return _walk(events, head, read)
