"""The OIDC settings checked together: a wrong combination stops every process at start."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from closeout.access import PEOPLE_ROLES

if TYPE_CHECKING:
    from closeout.settings import Settings

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def check_oidc(settings: Settings) -> None:
    if settings.oidc_issuer is None:
        if settings.oidc_client_id or settings.oidc_role_map:
            raise ValueError("CLOSEOUT_OIDC_ISSUER must be set to sign in with a provider")
        return
    parts = urlsplit(settings.oidc_issuer)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("CLOSEOUT_OIDC_ISSUER must be the provider's https address")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        raise ValueError("CLOSEOUT_OIDC_ISSUER must use https (plain http only on loopback)")
    if not settings.oidc_client_id:
        raise ValueError("CLOSEOUT_OIDC_CLIENT_ID must be set with CLOSEOUT_OIDC_ISSUER")
    if (settings.oidc_client_secret is None) == (settings.oidc_client_secret_file is None):
        raise ValueError(
            "give one of CLOSEOUT_OIDC_CLIENT_SECRET or CLOSEOUT_OIDC_CLIENT_SECRET_FILE"
        )
    if not settings.oidc_role_map:
        raise ValueError(
            "CLOSEOUT_OIDC_ROLE_MAP must map at least one group to a role, e.g. "
            '{"closeout-managers": "manager"}'
        )
    wrong = sorted(str(r) for r in settings.oidc_role_map.values() if r not in PEOPLE_ROLES)
    if wrong:
        raise ValueError(f"CLOSEOUT_OIDC_ROLE_MAP: {wrong} are not roles people sign in with")
    if "openid" not in settings.oidc_scopes.split():
        raise ValueError("CLOSEOUT_OIDC_SCOPES must include openid")
