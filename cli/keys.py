"""`closeout keys …`: master keys and the rotation of data keys onto a new one."""

from __future__ import annotations

import typer

from closeout.certificates.repository import Certificates
from closeout.crypto.keyring import KeyServiceUnreachable, KeyUnavailable, new_master_key
from closeout.crypto.rekey import rekey_records
from closeout.crypto.vault import data_keys_from
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

    Afterwards the older master keys wrap nothing; keep them in CLOSEOUT_MASTER_KEYS (or
    CLOSEOUT_KMS_KEYS) all the same while suppression ledger entries or deletion certificates
    name them (both record the master key id their keys are derived from).
    """
    from cli.main import load_settings

    settings = load_settings()
    keys = data_keys_from(settings, Database.from_url(settings.database_url))
    try:
        result = keys.rotate()
    except (KeyUnavailable, KeyServiceUnreachable) as exc:
        # Each batch is kept as it is re-wrapped: running again goes on where this stopped.
        typer.echo(f"error: {exc}; keys re-wrapped so far stay so, run again to go on", err=True)
        raise typer.Exit(1) from exc
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
    from cli.main import load_settings

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


@keys_app.command("seal-words")
def keys_seal_words() -> None:
    """Seal the customers' words that rows written by an earlier version hold in the clear
    (notes, comments, hold reasons, evidence, addresses, the audit's free text), each under
    its customer's own key; run once after upgrading. A second run seals nothing."""
    from cli.main import load_settings
    from closeout.cases.repository import case_repository
    from closeout.cases.reseal import seal_plain_words

    settings = load_settings()
    db = Database.from_url(settings.database_url)
    result = seal_plain_words(db, case_repository(settings, db).sealed)
    total = sum(result.sealed.values())
    typer.echo(
        f"{total} values sealed" + "".join(f"\n  {k}: {n}" for k, n in result.sealed.items())
    )
    if result.skipped:
        typer.echo(f"{result.skipped} left as they are: their customer's key was destroyed")
