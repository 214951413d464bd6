"""Signed customer links: valid until they expire, and only as signed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from closeout.domain import CustomerResponse
from closeout.links import CustomerLink, LinkKind, LinkProblem, LinkRefused, LinkSigner

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LINK = CustomerLink("notice-1.stay", "case-1", CustomerResponse.STAY, NOW + timedelta(days=30))


def test_a_signed_link_verifies_to_what_was_signed() -> None:
    signer = LinkSigner("secret-a")
    assert signer.verify(signer.sign(LINK), now=NOW) == LINK


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
        lambda t: "X" + t[1:],  # payload changed
        lambda t: t.split(".")[0],  # signature removed
        lambda t: "not-a-token",
    ],
)
def test_tampered_links_are_refused_as_forged(mangle: object) -> None:
    signer = LinkSigner("secret-a")
    with pytest.raises(LinkRefused) as exc:
        signer.verify(mangle(signer.sign(LINK)), now=NOW)  # type: ignore[operator]
    assert exc.value.kind == LinkProblem.FORGED and exc.value.link is None


def test_another_deployments_links_are_forged_here() -> None:
    token = LinkSigner("secret-b").sign(LINK)
    with pytest.raises(LinkRefused) as exc:
        LinkSigner("secret-a").verify(token, now=NOW)
    assert exc.value.kind == LinkProblem.FORGED


def test_a_link_for_another_case_cannot_be_made_from_this_one() -> None:
    signer = LinkSigner("secret-a")
    other = CustomerLink(LINK.link_id, "case-2", LINK.action, LINK.expires_at)
    assert signer.sign(other) != signer.sign(LINK)
    assert signer.verify(signer.sign(other), now=NOW).case_id == "case-2"


def test_expired_links_are_refused_but_still_say_which_case() -> None:
    signer = LinkSigner("secret-a")
    with pytest.raises(LinkRefused) as exc:
        signer.verify(signer.sign(LINK), now=LINK.expires_at)
    assert exc.value.kind == LinkProblem.EXPIRED
    assert exc.value.link is not None and exc.value.link.case_id == "case-1"


def test_links_are_signed_with_sha256() -> None:
    token = LinkSigner("secret-a").sign(LINK)
    # An HMAC-SHA256 signature is 32 bytes: 43 base64url characters (SHA-1 gives 27).
    assert len(token.rsplit(".", 1)[1]) == 43


def test_answer_and_export_links_are_signed_apart() -> None:
    signer = LinkSigner("secret-a")
    link = CustomerLink("n-1", "case-1", CustomerResponse.DOWNLOAD_DATA, LINK.expires_at)
    answer, export = signer.sign(link), signer.sign(link, LinkKind.EXPORT)
    assert answer.split(".")[0] == export.split(".")[0] and answer != export
    assert signer.verify(answer, now=NOW) == signer.verify(export, NOW, LinkKind.EXPORT) == link
    for token, kind in ((answer, LinkKind.EXPORT), (export, LinkKind.ANSWER)):
        with pytest.raises(LinkRefused) as exc:
            signer.verify(token, NOW, kind)
        assert exc.value.kind == LinkProblem.FORGED
