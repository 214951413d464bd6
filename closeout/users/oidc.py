"""Staff sign-in with the company's identity provider: OpenID Connect, authorization code with
PKCE (S256), the role from a group claim (`CLOSEOUT_OIDC_ROLE_MAP`).

The provider is found by discovery (`<issuer>/.well-known/openid-configuration`); its keys
(JWKS) are fetched once and again when a token names a key not yet seen. An ID token counts only
when its RS256/ES256 signature verifies against those keys and its issuer, audience, expiry,
issue time and nonce are right; nothing else in the token is trusted before that.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from closeout.domain import Role

if TYPE_CHECKING:
    from closeout.settings import Settings

# Clock difference tolerated between Closeout and the provider, in seconds.
LEEWAY = 60
# How long a provider that could not be reached is not asked again, in seconds.
RETRY_AFTER = 30.0
ALGORITHMS = ("RS256", "ES256")


class OidcError(ValueError):
    """A sign-in through the provider failed; the message says why, naming no secret."""


@dataclass(frozen=True)
class Pending:
    """What the browser's sign-in carries from the redirect to the callback (in its signed
    session cookie): checked once, then dropped."""

    state: str
    nonce: str
    verifier: str
    next_url: str

    def as_dict(self) -> dict[str, str]:
        return {"state": self.state, "nonce": self.nonce, "verifier": self.verifier,
                "next": self.next_url}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Any) -> Pending | None:
        if not isinstance(data, dict):
            return None
        values = [data.get(k) for k in ("state", "nonce", "verifier", "next")]
        strings = [v for v in values if isinstance(v, str)]
        return cls(*strings) if len(strings) == len(values) else None


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in, from a verified ID token."""

    subject: str
    email: str
    email_verified: bool
    name: str
    # None: the token has no groups claim at all (not the same as no group).
    groups: tuple[str, ...] | None
    id_token: str


def _groups(claim: object) -> tuple[str, ...] | None:
    if claim is None:
        return None
    if isinstance(claim, str):  # some providers send a lone group as a string
        return (claim,)
    if isinstance(claim, list):
        return tuple(g for g in claim if isinstance(g, str))
    return ()


def role_from_groups(groups: Sequence[str], role_map: Mapping[str, Role]) -> Role | None:
    """The role of the first group of the map the person is in (the map's order decides
    between several); None: no group of theirs gives a role here."""
    held = set(groups)
    return next((role for group, role in role_map.items() if group in held), None)


class OidcProvider:
    """One identity provider, as a relying party (a confidential client) sees it."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str | None,
        *,
        scopes: str = "openid email profile",
        groups_claim: str = "groups",
        timeout: float = 5.0,
        verify: bool | str = True,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self.scopes = scopes
        self.groups_claim = groups_claim
        self._http = httpx.Client(timeout=timeout, verify=verify, trust_env=False)
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._failed_at: float | None = None
        self._keys: KeySet | None = None
        # Plain http is for a provider on this machine (tests, a local setup) only.
        self._local = urlsplit(self.issuer).hostname in ("127.0.0.1", "localhost", "::1")

    # ------------------------------------------------------------------ the provider's documents

    def _get(self, url: str) -> dict[str, Any]:
        try:
            answer = self._http.get(url)
            found = answer.json() if answer.status_code == 200 else None
        except httpx.HTTPError as exc:
            raise OidcError(
                f"the identity provider cannot be reached ({type(exc).__name__})"
            ) from None
        except ValueError:
            found = None
        if not isinstance(found, dict):
            raise OidcError(f"the identity provider answered {answer.status_code} at {url}")
        return found

    def metadata(self) -> dict[str, Any]:
        """The discovery document, fetched once; a failure is remembered a while, so that a
        provider that is down costs the sign-in page one wait, not one per visitor."""
        with self._lock:
            if self._metadata is not None:
                return self._metadata
            if self._failed_at is not None and time.monotonic() - self._failed_at < RETRY_AFTER:
                raise OidcError("the identity provider cannot be reached; try again shortly")
        try:
            found = self._get(f"{self.issuer}/.well-known/openid-configuration")
            self._checked(found)
        except OidcError:
            with self._lock:
                self._failed_at = time.monotonic()
            raise
        with self._lock:
            self._metadata, self._failed_at = found, None
        return found

    def _checked(self, found: dict[str, Any]) -> None:
        if str(found.get("issuer", "")).rstrip("/") != self.issuer:
            raise OidcError("the identity provider's discovery names another issuer")
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            url = found.get(name)
            if not isinstance(url, str) or not (
                url.startswith("https://") or (self._local and url.startswith("http://"))
            ):
                raise OidcError(f"the identity provider's discovery has no https {name}")

    def _key_set(self, refresh: bool = False) -> KeySet:
        with self._lock:
            cached = self._keys
        if cached is not None and not refresh:
            return cached
        try:
            keys = KeySet.import_key_set(self._get(self.metadata()["jwks_uri"]))  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError) as exc:
            raise OidcError(
                f"the identity provider's keys cannot be read ({type(exc).__name__})"
            ) from None
        with self._lock:
            self._keys = keys
        return keys

    # ------------------------------------------------------------------ the flow

    def start(self, redirect_uri: str, next_url: str) -> tuple[str, Pending]:
        """Where to send the browser, and what its callback must match."""
        pending = Pending(
            secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48),
            next_url,
        )  # fmt: skip
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": self.scopes,
            "state": pending.state,
            "nonce": pending.nonce,
            "code_challenge": create_s256_code_challenge(pending.verifier),
            "code_challenge_method": "S256",
        }
        return f"{self.metadata()['authorization_endpoint']}?{urlencode(query)}", pending

    def finish(self, code: str, redirect_uri: str, pending: Pending) -> Identity:
        """The code exchanged (with the PKCE verifier) and the ID token verified."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": pending.verifier,
            "client_id": self.client_id,
        }
        if self._secret is not None:
            form["client_secret"] = self._secret
        try:
            answer = self._http.post(self.metadata()["token_endpoint"], data=form)
        except httpx.HTTPError as exc:
            raise OidcError(
                f"the identity provider cannot be reached ({type(exc).__name__})"
            ) from None
        try:
            body = answer.json()
        except ValueError:
            body = None
        if answer.status_code != 200 or not isinstance(body, dict):
            error = body.get("error", "") if isinstance(body, dict) else ""
            raise OidcError(
                f"the identity provider refused the code ({answer.status_code} {error})".strip()
            )
        id_token = body.get("id_token")
        if not isinstance(id_token, str):
            raise OidcError("the identity provider sent no ID token")
        return self.identity(id_token, pending.nonce)

    def identity(self, id_token: str, nonce: str, now: int | None = None) -> Identity:
        """The signed-in person from an ID token, refused unless its signature, issuer,
        audience, times and nonce are right (`now`: the clock to judge its times by)."""
        issuer = str(self.metadata()["issuer"])  # exactly as the provider writes it in tokens
        try:
            try:
                token = jwt.decode(id_token, self._key_set(), algorithms=list(ALGORITHMS))
            except JoseError:  # a key the provider rotated in since: fetch the keys again
                token = jwt.decode(
                    id_token, self._key_set(refresh=True), algorithms=list(ALGORITHMS)
                )
            jwt.JWTClaimsRegistry(
                now=now,
                leeway=LEEWAY,
                iss={"essential": True, "value": issuer},
                aud={"essential": True, "value": self.client_id},
                sub={"essential": True},
                exp={"essential": True},
                iat={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(token.claims)
        except (JoseError, ValueError) as exc:
            raise OidcError(f"the ID token was refused: {type(exc).__name__}") from None
        claims = token.claims
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise OidcError("the ID token was refused: issued to another party (azp)")
        subject = str(claims["sub"])
        if not 0 < len(subject) <= 255:
            raise OidcError("the ID token was refused: its subject is not 1 to 255 characters")
        email = claims.get("email")
        if not isinstance(email, str) or not email:
            raise OidcError("the ID token carries no e-mail address (ask for the email scope)")
        return Identity(
            subject=subject,
            email=email.strip().lower(),
            email_verified=claims.get("email_verified") is True,
            name=str(claims.get("name") or claims.get("preferred_username") or email),
            groups=_groups(claims.get(self.groups_claim)),
            id_token=id_token,
        )

    def end_session_url(self, id_token: str | None, after: str) -> str | None:
        """The provider's sign-out page (RP-initiated logout), when it has one."""
        try:
            endpoint = self.metadata().get("end_session_endpoint")
        except OidcError:
            return None
        if not isinstance(endpoint, str):
            return None
        query = {"post_logout_redirect_uri": after, "client_id": self.client_id}
        if id_token:
            query["id_token_hint"] = id_token
        return f"{endpoint}?{urlencode(query)}"


def oidc_from(settings: Settings) -> OidcProvider | None:
    """The one place the identity provider's client is built; None when none is configured."""
    if settings.oidc_issuer is None or settings.oidc_client_id is None:
        return None
    return OidcProvider(
        settings.oidc_issuer,
        settings.oidc_client_id,
        settings.oidc_secret(),
        scopes=settings.oidc_scopes,
        groups_claim=settings.oidc_groups_claim,
        verify=str(settings.oidc_ca_file) if settings.oidc_ca_file else True,
    )


def oidc_origins(settings: Settings) -> tuple[str, ...]:
    """The identity provider's origin, which pages' forms may lead to (signing out there)."""
    if settings.oidc_issuer is None:
        return ()
    parts = urlsplit(settings.oidc_issuer)
    return (f"{parts.scheme}://{parts.netloc}",)
