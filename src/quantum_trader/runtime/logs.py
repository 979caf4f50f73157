"""Structured logs (structlog): quiet by default, JSON with ``--log-json``.

JSON lines carry the traceback itself (``exception``), not ``"exc_info": true``; and at
every level, secrets never reach a log line: request signatures, API keys and
``X-MBX-APIKEY`` headers (ccxt logs whole signed URLs and headers at DEBUG) are redacted
by one filter on the handler, whoever logged them.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

REDACTED = "****"
_SECRETS = (
    re.compile(r"(signature=)[0-9A-Fa-f]+"),
    re.compile(r"((?:X-MBX-APIKEY|apiKey|api_key|secret)['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}&]+", re.I),
)


def redact(text: str) -> str:
    """``text`` with every signature and key value replaced by ``****``."""
    for pattern in _SECRETS:
        text = pattern.sub(rf"\g<1>{REDACTED}", text)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites a record's message (and its arguments) with secrets redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
        return True


def _redact_event(_: Any, __: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
    return {k: redact(v) if isinstance(v, str) else v for k, v in event.items()}


def configure_logging(level: str = "WARNING", json_logs: bool = False) -> None:
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if json_logs
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    # The traceback as text in JSON (exc_info would print as ``true``); the console
    # renderer formats exc_info itself.
    tail: list[structlog.types.Processor] = (
        [structlog.processors.format_exc_info] if json_logs else []
    )
    structlog.configure(
        processors=[*processors, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        # Not cached: a cached logger keeps the configuration of its first use, so a later
        # configure (a second command in one process, a test capturing logs) would not
        # reach it. Logs are warnings and errors off the hot path; caching saves nothing.
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactSecrets())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *tail,
                _redact_event,
                renderer,
            ],
            foreign_pre_chain=processors,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
