"""`closeout keys …`: master keys and the rotation of data keys onto a new one."""

from __future__ import annotations

import typer

from closeout.certificates.repository import Certificates
from closeout.crypto.data_keys import DataKeys
from closeout.crypto.keyring import new_master_key
from closeout.crypto.rekey import rekey_records
from closeout.crypto.vault import key_ring
from closeout.db import Database
from closeout.suppression.ledger import ledger_from

keys_app = typer.Typer(help="Master keys that protect archived data.", no_args_is_help=True)


@keys_app.command("new")
def keys_new() -> None:
    """Print a fresh random master key (add it to CLOSEOUT_MASTER_KEYS under a new id)."""
    typer.echo(new_master_key())


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-wrap every live data key under CLOSEOUT_MASTER_KEY_ID; archives stay as they are.

    Afterwards the older master keys wrap nothing; keep them in CLOSEOUT_MASTER_KEYS all
    the same while suppression ledger entries or deletion certificates name them (both
    record the master key id their keys are derived from).
    """
    from closeout.cli import load_settings

    settings = load_settings()
    keys = DataKeys(Database.from_url(settings.database_url), key_ring(settings))
    result = keys.rotate()
    noun = "data key" if result.rewrapped == 1 else "data keys"
    typer.echo(
        f"{result.rewrapped} {noun} re-wrapped under master key {settings.active_master_key_id}"
        f" ({result.already_current} already were)"
    )


@keys_app.command("rekey-records")
def keys_rekey_records() -> None:
    """Move records made before they named a master key onto the current one: deleted
    customers the suppression ledger knows only by the secret key are named again, and
    certificates signed with the secret key are signed again (each keeps the digest it had).
    Afterwards set CLOSEOUT_LEGACY_RECORDS=false: the secret key then vouches for nothing
    long-lived, and rotating it loses nothing."""
    from closeout.cli import load_settings

    settings = load_settings()
    db = Database.from_url(settings.database_url)
    result = rekey_records(db, ledger_from(settings), Certificates(db, settings.record_keys()))
    typer.echo(
        f"{result.ledger_entries} deleted customers named again and "
        f"{result.certificates} certificates signed again under master key "
        f"{settings.active_master_key_id}"
    )
    if result.unverified:
        typer.echo(
            "error: these certificates do not verify and were left as they are: "
            + ", ".join(result.unverified),
            err=True,
        )
        raise typer.Exit(1)
