"""Structured logs: every line carries the room and participant it is about.

Code logs with `extra={"room": ..., "participant": ...}` (or a LoggerAdapter that adds
them); the formatter prints them as `key=value` pairs, or one JSON object per line.
"""

from __future__ import annotations

import json
import logging
import sys
import time

CONTEXT_FIELDS = ("room", "participant", "role", "client", "code", "reason")


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        parts = [
            f"{stamp}.{int(record.msecs):03d}Z",
            record.levelname.lower(),
            record.name,
            repr(record.getMessage()),
        ]
        for field in CONTEXT_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                parts.append(f"{field}={value}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": record.created,
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for field in CONTEXT_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "info", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log per WebSocket is noise next to our own connection lines.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


def connection_logger(
    room: str, participant: str, role: str
) -> logging.LoggerAdapter[logging.Logger]:
    return logging.LoggerAdapter(
        logging.getLogger("koprade.connection"),
        {"room": room, "participant": participant, "role": role},
    )
