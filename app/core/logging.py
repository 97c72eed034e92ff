"""Structured logs: JSON in production, readable lines in development. No secrets in them.

Every log line goes through one handler on the root logger whose formatter is structlog's
``ProcessorFormatter``: the app's structlog loggers and the stdlib loggers of uvicorn,
Litestar, Strawberry and Piccolo alike, so each line carries the request id and GraphQL
operation bound in ``structlog.contextvars`` by the edge. What never reaches a line:
request bodies, query strings (a GET query's variables), ``extra`` (Strawberry passes the
whole execution context, variables included) and local variables in tracebacks.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog
from structlog.types import EventDict, Processor, WrappedLogger

from app.settings import Settings

# uvicorn logs through these; they are emptied and made to propagate to the root handler.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


def _access_fields(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """uvicorn's access line as fields, the path without its query string: a GET query
    carries its document and variables there."""
    args = event.pop("positional_args", None)
    record = event.get("_record")
    if record is None or record.name != "uvicorn.access" or not isinstance(args, tuple):
        return event
    if len(args) == 5:  # client, method, path with query, HTTP version, status
        client, method, path, version, status = args
        event["event"] = "request"
        event["client"] = client
        event["method"] = method
        event["path"] = str(path).split("?", 1)[0]
        event["http_version"] = version
        event["status"] = status
    return event


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def formatter(production: bool) -> structlog.stdlib.ProcessorFormatter:
    """The formatter of every line: JSON for machines, aligned text for people."""
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if production
        else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    )
    final: list[Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if production:
        # Text tracebacks: structlog's dict tracebacks would show each frame's locals.
        final.append(structlog.processors.format_exc_info)
    final.append(renderer)
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_shared_processors(), _access_fields],
        processors=final,
        pass_foreign_args=True,
    )


class _CoinsHandler(logging.StreamHandler[TextIO]):
    """Ours, so that configuring again replaces it instead of adding a second one."""


def configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    """Route structlog and the stdlib loggers to one handler on ``stream`` (stderr)."""
    level = logging.INFO if settings.is_production else logging.DEBUG
    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(level),
    )
    handler = _CoinsHandler(stream or sys.stderr)
    handler.setFormatter(formatter(settings.is_production))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _CoinsHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        # uvicorn's own handlers give way to ours; a logger uvicorn silenced (the access
        # log under ``--no-access-log``: no handler, no propagation) stays silent.
        if logger.handlers:
            logger.handlers.clear()
            logger.propagate = True


def litestar_logging_config() -> Any:
    """Litestar's own logger, sent to the root handler instead of a console handler of its
    own (its default would also replace the root logger's handlers)."""
    from litestar.logging.config import LoggingConfig

    quiet = {"class": "logging.NullHandler"}
    return LoggingConfig(
        configure_root_logger=False,
        handlers={"console": quiet, "queue_listener": quiet},
        loggers={"litestar": {"level": "INFO", "handlers": [], "propagate": True}},
    )
