"""Structured logging: one JSON object (or one key=value line) per event, personal data masked.

Call sites log with `log_event(logger, "call.ended", phone=..., disposition=...)`; the fields are
masked by name here, and the formatted line is masked again by pattern, so C11 never depends on
each call site remembering to mask.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

from telemetry.mask import mask_field, mask_text

_FIELDS_ATTR = "event_fields"


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log a named event with structured fields (masked by the formatter)."""
    if logger.isEnabledFor(level):
        logger.log(level, event, extra={_FIELDS_ATTR: fields})


def masked_fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, _FIELDS_ATTR, None) or {}
    return {key: mask_field(key, value) for key, value in fields.items()}


def _mask_values(value: Any) -> Any:
    """Mask every string inside a JSON-bound value; numbers stay numbers unless they look like a phone."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {key: _mask_values(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_values(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**10:
        return mask_text(str(value))
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per line; masking is applied to the values, so the line always stays valid JSON."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        payload.update(masked_fields(record))
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(_mask_values(payload), ensure_ascii=False, default=lambda o: mask_text(str(o)))


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        head = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} {record.name}: {record.getMessage()}"
        fields = " ".join(f"{k}={v}" for k, v in masked_fields(record).items())
        line = f"{head} {fields}".rstrip()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return mask_text(line)


def configure_logging(level: str = "INFO", fmt: str = "json", stream: TextIO | None = None) -> None:
    """Install one masking handler on the root logger (idempotent: replaces earlier ones)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
