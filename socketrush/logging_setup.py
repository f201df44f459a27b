"""Root logger set-up from the `log_level` and `log_format` settings.

Only the process entry point calls this; library modules just use `logging.getLogger(__name__)`.
Nothing here logs settings, so secrets cannot leak from it; callers log `config.settings_document()`, which masks them.
"""

from __future__ import annotations

import logging
import sys

import orjson

TRACE = 5  # below DEBUG: per-frame protocol chatter
logging.addLevelName(TRACE, "TRACE")

LEVELS = {
    "trace": TRACE,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}
HUMAN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors that parse fields instead of text."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def configure_logging(level: str, fmt: str) -> None:
    """Send every log record at `level` or above to stderr, as `human` text or `json` lines.

    Replaces the root handlers so calling it twice (tests, re-exec) never duplicates lines.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(HUMAN_FORMAT))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(LEVELS[level])
