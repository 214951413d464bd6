"""Every string a customer reads is in the Simplified Chinese catalog, placeholders intact."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir

from closeout.i18n import catalog_for, format_when, translations

ROOT = Path(__file__).resolve().parent.parent
METHODS = [
    ("activities/**.py", "python"),
    ("api/**.py", "python"),
    ("closeout/links.py", "python"),
    ("closeout/labels.py", "python"),
    ("templates/mail/**.html", "jinja2"),
    ("templates/mail/**.txt", "jinja2"),
    ("templates/answers/**.html", "jinja2"),
    ("templates/web/**.html", "jinja2"),
]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _messages() -> set[str]:
    found = extract_from_dir(
        str(ROOT),
        METHODS,
        keywords={"_": None, "N_": None, "gettext": None},
        options_map={
            "**.html": {"extensions": "jinja2.ext.i18n"},
            "**.txt": {"extensions": "jinja2.ext.i18n"},
        },
    )
    return {
        message for _file, _line, message, _comments, _context in found if isinstance(message, str)
    }


def test_strings_are_found() -> None:
    messages = _messages()
    assert (
        "I want to stay" in messages and "of a serious breach of our terms of service." in messages
    )


@pytest.mark.parametrize("message", sorted(_messages()))
def test_chinese_catalog_translates(message: str) -> None:
    translated = translations("zh_CN").gettext(message)
    assert translated != message, f"no zh_CN translation for {message!r}: run pybabel update"
    assert sorted(PLACEHOLDER.findall(translated)) == sorted(PLACEHOLDER.findall(message))


def test_locales_map_to_catalogs() -> None:
    assert [catalog_for(x) for x in ("zh-CN", "zh_Hans", "ZH", "en-GB", "fr", None)] == [
        "zh_CN",
        "zh_CN",
        "zh_CN",
        "en",
        "en",
        "en",
    ]


def test_dates_read_naturally() -> None:
    from datetime import UTC, datetime

    moment = datetime(2026, 12, 23, 9, 5, tzinfo=UTC)
    assert format_when(moment) == "23 December 2026, 09:05 UTC"
    assert format_when(moment, "zh_CN") == "2026年12月23日 09:05 UTC"
