"""Access-log lines without personal data or credentials.

Query strings carry searches (a customer's name, an e-mail address) and the customer links
carry signed tokens in their path (answers to notices, data exports, the confirmation of a
deletion request): the access log keeps the path only, with those tokens masked. Every route
taking a `{token}` lives under one of `TOKEN_PREFIXES` (a test holds the app's routes to it).
"""

from __future__ import annotations

import logging
import re

ACCESS_LOGGER = "uvicorn.access"
TOKEN_PREFIXES = ("r", "exports", "privacy/request")
_TOKEN_PATHS = re.compile(rf"^/({'|'.join(map(re.escape, TOKEN_PREFIXES))})/[^/?]+")


def scrub_path(path: str) -> str:
    path = path.split("?", 1)[0]
    return _TOKEN_PATHS.sub(lambda m: f"/{m.group(1)}/…", path)


class ScrubbedAccessLog(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn's access record: (client, method, path with query, http version, status)
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], scrub_path(args[2]), *args[3:])
        return True


def install_access_log_filter() -> None:
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, ScrubbedAccessLog) for f in logger.filters):
        logger.addFilter(ScrubbedAccessLog())
