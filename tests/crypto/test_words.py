"""A customer's words sealed under their own key: bound to them, unreadable once destroyed."""

from __future__ import annotations

from closeout.crypto.data_keys import WORDS_SCOPE, DataKeys
from closeout.crypto.vault import data_keys_from
from closeout.crypto.words import JSON_FIELD, PREFIX, Words
from closeout.db import Database
from closeout.settings import Settings


def _words(settings: Settings, db: Database) -> tuple[Words, DataKeys]:
    keys = data_keys_from(settings, db)
    return Words(keys), keys


def test_sealed_text_opens_for_its_customer_until_the_key_is_destroyed(
    settings: Settings, db: Database
) -> None:
    words, keys = _words(settings, db)
    sealed = words.seal("cust-1", "Zelda called about the invoice")
    assert sealed is not None and sealed.startswith(f"{PREFIX}cust-1:")
    assert "Zelda" not in sealed
    assert words.open(sealed) == "Zelda called about the invoice"
    # Moved under another customer's name, it opens for no one.
    other = words.seal("cust-2", "x")
    assert other is not None
    assert words.open(sealed.replace("cust-1:", "cust-2:")) is None
    # Text that merely looks sealed is sealed all the same.
    lookalike = f"{PREFIX}cust-1:AAAA"
    assert words.open(words.seal("cust-1", lookalike)) == lookalike
    # Plain text written before sealing reads as it is.
    assert words.open("an older note") == "an older note"
    assert keys.destroy("cust-1", WORDS_SCOPE) == 1
    assert words.open(sealed) is None
    assert words.open(other) == "x"


def test_json_keeps_identifiers_and_numbers_in_the_clear(settings: Settings, db: Database) -> None:
    words, keys = _words(settings, db)
    evidence = {"request_text": "I am Zelda, delete me", "days": 3, "invoice_id": "inv-9"}
    sealed = words.seal_json("cust-1", evidence)
    assert sealed["days"] == 3 and sealed["invoice_id"] == "inv-9"
    assert "request_text" not in sealed and "Zelda" not in str(sealed)
    assert words.open(sealed) == evidence
    # Without words, nothing is sealed and no key is made.
    assert words.seal_json("cust-2", {"days": 4}) == {"days": 4}
    assert not keys.existed("cust-2", WORDS_SCOPE)
    keys.destroy("cust-1", WORDS_SCOPE)
    assert words.open(sealed) == {"days": 3, "invoice_id": "inv-9"}
    assert JSON_FIELD not in words.open(sealed)
