"""Message catalogs for what customers read: English, and Simplified Chinese."""

from __future__ import annotations

import gettext
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency
from babel.support import Translations

LOCALES_DIR = Path(__file__).parent / "locales"
DEFAULT_LOCALE = "en"
# Catalog per language; anything else falls back to English.
CATALOGS = {"zh": "zh_CN"}
DATE_FORMATS = {"en": "d MMMM y, HH:mm", "zh_CN": "y年M月d日 HH:mm"}


def N_(message: str) -> str:
    """Mark a string for the catalogs; it is translated where it is shown."""
    return message


def catalog_for(locale: str | None) -> str:
    """The catalog a customer's locale (`zh-CN`, `zh_Hans`, `en-GB`…) is written in."""
    language = (locale or DEFAULT_LOCALE).replace("-", "_").split("_")[0].lower()
    return CATALOGS.get(language, DEFAULT_LOCALE)


@lru_cache
def translations(catalog: str) -> gettext.NullTranslations:
    """Compiled from the .po file in memory, so no build step is needed."""
    if catalog == DEFAULT_LOCALE:
        return gettext.NullTranslations()
    with (LOCALES_DIR / catalog / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog_data = read_po(po, locale=catalog)
    compiled = BytesIO()
    write_mo(compiled, catalog_data)
    compiled.seek(0)
    return Translations(compiled)


def format_when(moment: datetime | None, catalog: str = DEFAULT_LOCALE) -> str:
    if moment is None:
        return "-"
    return format_datetime(moment, DATE_FORMATS[catalog], tzinfo=None, locale=catalog) + " UTC"


def format_money(cents: int | None, currency: str, catalog: str = DEFAULT_LOCALE) -> str:
    """An amount kept in cents, as money in the reader's language (symbol, separators)."""
    return format_currency(Decimal(cents or 0) / 100, currency, locale=catalog)
