"""Jinja2 page templates, one environment per message catalog."""

from __future__ import annotations

from datetime import datetime

from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context

from closeout.i18n import format_money, format_when, translations
from closeout.labels import label
from closeout.mail import TEMPLATES_DIR

_templates: dict[str, Jinja2Templates] = {}
DEFAULT_CURRENCY = "EUR"


def templates_for(catalog: str) -> Jinja2Templates:
    """Page templates speaking one catalog's language (`_()` in templates, dates per locale)."""
    if catalog not in _templates:
        templates = Jinja2Templates(directory=TEMPLATES_DIR)
        env = templates.env
        env.add_extension("jinja2.ext.i18n")
        env.install_gettext_translations(translations(catalog), newstyle=True)  # type: ignore[attr-defined]

        def when(moment: datetime | None) -> str:
            return format_when(moment, catalog)

        env.filters["when"] = when
        catalog_translations = translations(catalog)
        env.filters["label"] = lambda value: catalog_translations.gettext(label(value))

        @pass_context
        def money(context: Context, cents: int | None) -> str:
            return format_money(cents, context.get("currency", DEFAULT_CURRENCY), catalog)

        env.filters["money"] = money
        _templates[catalog] = templates
    return _templates[catalog]
