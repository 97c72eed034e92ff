"""Jinja for the admin: templates in ``admin_templates/``, a few formatting filters."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from app.core.money import Money

TEMPLATE_DIRECTORY = Path(__file__).resolve().parents[2] / "admin_templates"


def number(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def money(value: Money) -> str:
    return f"{value.decimal_amount:,} {value.currency}"


def when(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def decimal(value: Decimal) -> str:
    return f"{value:,}"


def _configure(engine: JinjaTemplateEngine) -> None:
    engine.engine.filters.update(number=number, money=money, when=when, decimal=decimal)
    engine.engine.autoescape = True


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(
        directory=TEMPLATE_DIRECTORY, engine=JinjaTemplateEngine, engine_callback=_configure
    )
