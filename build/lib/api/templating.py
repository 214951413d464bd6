"""Jinja2 page templates, one environment per message catalog."""

from __future__ import annotations

from datetime import datetime

from fastapi.templating import Jinja2Templates

from closeout.i18n import format_when, translations
from closeout.labels import label
from closeout.mail import TEMPLATES_DIR

_templates: dict[str, Jinja2Templates] = {}


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
        env.filters["money"] = lambda cents: f"{(cents or 0) / 100:,.2f}"
        _templates[catalog] = templates
    return _templates[catalog]
