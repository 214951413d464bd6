"""Each deletion certificate's audit anchor, checked against the trail it was anchored in.

A certificate records the head of the audit chain when it was issued (its sequence number and
hash). The chain can verify on its own and still have been rewritten from some event on, every
hash recomputed; the anchors, signed inside certificates, are what such a rewrite cannot match.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from closeout.audit.chain import GENESIS
from closeout.audit.models import AuditEvent
from closeout.certificates.models import DeletionCertificate
from closeout.certificates.repository import Certificates

# Anchored events looked up this many at a time.
_BATCH = 500


@dataclass(frozen=True)
class AnchorProblem:
    certificate_id: str
    case_id: str
    problem: str

    def __str__(self) -> str:
        return f"certificate {self.certificate_id} (case {self.case_id}): {self.problem}"


@dataclass(frozen=True)
class AnchorReport:
    certificates: int
    problems: list[AnchorProblem]

    @property
    def anchored(self) -> bool:
        return not self.problems


def _anchor(certificate: DeletionCertificate) -> tuple[int, str] | None:
    anchor = certificate.body.get("audit_anchor")
    if not isinstance(anchor, dict):
        return None
    seq, digest = anchor.get("seq"), anchor.get("hash")
    if not isinstance(seq, int) or not isinstance(digest, str):
        return None
    return seq, digest


def _hashes(session: Session, seqs: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(seqs))
    found: dict[int, str] = {}
    for start in range(0, len(wanted), _BATCH):
        batch = wanted[start : start + _BATCH]
        rows = session.exec(
            select(AuditEvent.seq, AuditEvent.hash).where(col(AuditEvent.seq).in_(batch))
        ).all()
        found.update({int(seq): str(digest) for seq, digest in rows})
    return found


def _problem(
    certificates: Certificates,
    certificate: DeletionCertificate,
    hashes: dict[int, str],
) -> str | None:
    if not certificates.is_authentic(certificate):
        return "its body or signature was changed: its anchor cannot be trusted"
    anchor = _anchor(certificate)
    if anchor is None:
        return "it records no audit anchor"
    seq, digest = anchor
    if seq == 0:
        return None if digest == GENESIS else "its anchor, the empty trail, has a wrong hash"
    if seq not in hashes:
        return f"its anchor, event #{seq}, is not in the audit trail"
    if hashes[seq] != digest:
        return f"its anchor, event #{seq}, no longer has the hash the certificate recorded"
    return None


def check_anchors(session: Session, certificates: Certificates) -> AnchorReport:
    """Every certificate authentic, and its anchored event in the trail with the same hash."""
    issued: Sequence[DeletionCertificate] = session.exec(
        select(DeletionCertificate).order_by(col(DeletionCertificate.issued_at))
    ).all()
    anchors = [a for a in map(_anchor, issued) if a is not None]
    hashes = _hashes(session, (seq for seq, _ in anchors))
    problems = []
    for certificate in issued:
        problem = _problem(certificates, certificate, hashes)
        if problem is not None:
            problems.append(AnchorProblem(certificate.id, certificate.case_id, problem))
    return AnchorReport(len(issued), problems)
