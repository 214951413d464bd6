"""Which of the company's systems Closeout connects to: `CLOSEOUT_CONNECTORS`, a JSON list or
the path of a JSON or TOML file holding one (`[[connector]]` tables), each entry a system:

    [[connector]]
    kind = "scim"                 # an identity provider, over SCIM 2.0
    name = "idp"                  # how counts, errors and checks name it
    url = "https://idp.example.com/scim/v2"  # https (http only on loopback)
    token_file = "/run/secrets/scim-token"   # or token = "..." (never logged)
    group_attribute = "externalId"           # the Group attribute holding the customer id
    timeout = 10                             # seconds a call may take (at most 120)

    [[connector]]
    kind = "sql"                  # a database holding customer records, by a mapping
    name = "odoo"
    url_file = "/run/secrets/odoo-db-url"    # or url = "postgresql://..." (never logged)
    mapping = "/etc/closeout/odoo.toml"      # closeout/connectors/sql_mapping.py's format
    timeout = 30                             # seconds to connect, and per statement

Credentials come from the entry or a file it names, never from anywhere else.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, model_validator

from closeout.connectors.access import CRM_ACCESS
from closeout.connectors.sql_mapping import load_mapping

NAME = r"^[a-z][a-z0-9-]{0,39}$"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class ScimConnector(BaseModel):
    """An identity provider whose users are the customers' logins (closeout/connectors/scim.py)."""

    # A refused entry's error names the field, never the value it was given (a token).
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    kind: Literal["scim"]
    name: str = Field(pattern=NAME)
    url: str
    token: SecretStr | None = None
    token_file: Path | None = None
    # A top-level attribute of the Group resource, compared exactly with the customer's id.
    group_attribute: str = Field(default="externalId", pattern=r"^[A-Za-z][A-Za-z0-9]{0,63}$")
    timeout: float = Field(default=10.0, gt=0, le=120)

    @model_validator(mode="after")
    def _checked(self) -> ScimConnector:
        if (self.token is None) == (self.token_file is None):
            raise ValueError(f"connector {self.name!r}: give one of token or token_file")
        parts = urlsplit(self.url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"connector {self.name!r}: url must be an http(s) address")
        if parts.scheme == "http" and parts.hostname not in LOOPBACK:
            raise ValueError(
                f"connector {self.name!r}: url must use https (the bearer token goes with "
                "every request); plain http only on this machine's loopback"
            )
        return self

    def secret(self) -> str | None:
        """The bearer token, read from its file when one is named."""
        if self.token_file is not None:
            try:
                return self.token_file.read_text().strip()
            except OSError as exc:
                raise ValueError(
                    f"connector {self.name!r}: cannot read token_file {self.token_file}: "
                    f"{exc.strerror}"
                ) from exc
        return self.token.get_secret_value() if self.token is not None else None


class SqlConnector(BaseModel):
    """A CRM database of the company's own, by a mapping (closeout/connectors/sql_data.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    kind: Literal["sql"]
    name: str = Field(pattern=NAME)
    # A SQLAlchemy URL, its password in it: from the entry or a file holding it.
    url: SecretStr | None = None
    url_file: Path | None = None
    mapping: Path
    timeout: float = Field(default=30.0, gt=0, le=600)

    @model_validator(mode="after")
    def _checked(self) -> SqlConnector:
        if (self.url is None) == (self.url_file is None):
            raise ValueError(f"connector {self.name!r}: give one of url or url_file")
        load_mapping(self.mapping)  # a wrong mapping stops the settings, naming the problem
        return self

    def secret_url(self) -> str:
        """The database URL, read from its file when one is named."""
        if self.url_file is not None:
            try:
                return self.url_file.read_text().strip()
            except OSError as exc:
                raise ValueError(
                    f"connector {self.name!r}: cannot read url_file {self.url_file}: {exc.strerror}"
                ) from exc
        assert self.url is not None
        return self.url.get_secret_value()


Connector = Annotated[ScimConnector | SqlConnector, Field(discriminator="kind")]
_CONNECTORS = TypeAdapter(list[Connector])


def parse_connectors(value: Any) -> list[ScimConnector | SqlConnector]:
    """The connectors of a setting: a list, its JSON text, or the path of a JSON or TOML file."""
    if value is None or value == "":
        return []
    if isinstance(value, str) and not value.lstrip().startswith("["):
        path = Path(value)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ValueError(f"cannot read the connectors file {path}: {exc.strerror}") from exc
        if path.suffix == ".toml":
            try:
                value = tomllib.loads(text).get("connector", [])
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"{path}: {exc}") from exc
        else:
            value = text
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"connectors are not valid JSON: {exc}") from exc
    connectors = _CONNECTORS.validate_python(value)
    names = [c.name for c in connectors]
    clash = sorted({n for n in names if names.count(n) > 1 or n == CRM_ACCESS})
    if clash:
        raise ValueError(f"connector names must be unique and not {CRM_ACCESS!r}: {clash}")
    return connectors
