"""The activities' world (real database, SMTP sink, archive) for the crypto tests."""

from tests.activities.conftest import world

__all__ = ["world"]
