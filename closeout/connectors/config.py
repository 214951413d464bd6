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
    source = true                            # the customer source (default: the reference
                                             # CRM); at most one connector is

    [[connector]]
    kind = "salesforce"           # a Salesforce org's Accounts and what hangs on them
    name = "salesforce"
    instance_url = "https://yourcompany.my.salesforce.com"
    token_file = "/run/secrets/salesforce-token"  # an OAuth access token; or token = "..."
    customer_field = "Closeout_Id__c"        # the Account field holding the customer id
    source = true                            # the customer source, reading and writing:
    status_field = "Closeout_Status__c"      #   where the closing's status is written
    value_tier_field = "Value_Tier__c"       #   standard, high or key (else: standard)
    locale_field = "Language__c"             #   the customer's language (else: en)
    default_owner = "li.na@example.com"      #   who decides for an account of no known user

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
FIELD = r"^[A-Za-z][A-Za-z0-9_]{0,79}$"  # a Salesforce field's API name
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def read_secret(what: str, value: SecretStr | None, file: Path | None) -> str | None:
    """A secret given in a setting, or read from the file a setting names (`what` says which,
    in the error when the file cannot be read)."""
    if file is not None:
        try:
            return file.read_text().strip()
        except OSError as exc:
            raise ValueError(f"{what}: cannot read {file}: {exc.strerror}") from exc
    return value.get_secret_value() if value is not None else None


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
        return read_secret(f"connector {self.name!r} token_file", self.token, self.token_file)


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
    # The customer source: who the customers are is read here (the mapping's [source]).
    source: bool = False

    @model_validator(mode="after")
    def _checked(self) -> SqlConnector:
        if (self.url is None) == (self.url_file is None):
            raise ValueError(f"connector {self.name!r}: give one of url or url_file")
        # A wrong mapping stops the settings, naming the problem.
        if load_mapping(self.mapping).source is None and self.source:
            raise ValueError(
                f"connector {self.name!r}: source = true needs a [source] section in {self.mapping}"
            )
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


class SalesforceConnector(BaseModel):
    """A Salesforce org's customer records (closeout/connectors/salesforce.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    kind: Literal["salesforce"]
    name: str = Field(pattern=NAME)
    instance_url: str  # https://yourcompany.my.salesforce.com
    # An OAuth access token of an integration user, from the entry or a file a rotation job
    # rewrites (read again when Salesforce refuses the one held).
    token: SecretStr | None = None
    token_file: Path | None = None
    # The Account field holding the customer's Closeout id (an external id, indexed).
    customer_field: str = Field(default="Closeout_Id__c", pattern=FIELD)
    api_version: str = Field(default="62.0", pattern=r"^[1-9][0-9]\.0$")
    timeout: float = Field(default=30.0, gt=0, le=120)
    # A CA bundle to trust instead of the system's (a company proxy's own CA).
    ca_file: Path | None = None
    # The customer source (closeout/connectors/salesforce_source.py), with the Account
    # fields it reads and writes when the org has them.
    source: bool = False
    status_field: str | None = Field(default=None, pattern=FIELD)
    value_tier_field: str | None = Field(default=None, pattern=FIELD)
    locale_field: str | None = Field(default=None, pattern=FIELD)
    default_owner: str | None = Field(default=None, min_length=1, max_length=320)

    @model_validator(mode="after")
    def _checked(self) -> SalesforceConnector:
        if self.source and self.status_field is None:
            raise ValueError(
                f"connector {self.name!r}: a source needs status_field, the Account field where "
                "Closeout writes the customer's status and reads a restriction back"
            )
        if (self.token is None) == (self.token_file is None):
            raise ValueError(f"connector {self.name!r}: give one of token or token_file")
        parts = urlsplit(self.instance_url)
        if parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/"):
            raise ValueError(
                f"connector {self.name!r}: instance_url must be an https address with no path"
            )
        return self

    def secret(self) -> str | None:
        """The access token, read from its file (again) when one is named."""
        return read_secret(f"connector {self.name!r} token_file", self.token, self.token_file)


Connector = Annotated[
    ScimConnector | SqlConnector | SalesforceConnector, Field(discriminator="kind")
]
AnyConnector = ScimConnector | SqlConnector | SalesforceConnector
_CONNECTORS = TypeAdapter(list[Connector])


def parse_connectors(value: Any) -> list[AnyConnector]:
    """The connectors of a setting: a list, its JSON text, or the path of a JSON or TOML file."""
    if value is None or value == "":
        return []
    if isinstance(value, str) and not value.lstrip().startswith("["):
        path = Path(value)
        try:
            text = path.read_text()
        except OSError as exc:
            # The value is not echoed: set by mistake to a URL or an object, it holds secrets.
            raise ValueError(
                "connectors must be a JSON list, or the path of a readable JSON or TOML file "
                f"holding one ({exc.strerror})"
            ) from exc
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
    sources = [c.name for c in connectors if getattr(c, "source", False)]
    if len(sources) > 1:
        raise ValueError(f"one connector is the customer source, not several: {sources}")
    return connectors
