"""The audit log (ADMIN): every staff action, newest first, filterable."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromQuery
from litestar.response import Template

from app.admin.pages import render
from app.audit import service as audit
from app.core.paging import cut_page

PAGE = 50


class AuditController(Controller):
    path = "/admin/audit"

    @get("/")
    async def list_entries(
        self,
        request: Request[Any, Any, Any],
        actor: FromQuery[str] = "",
        action: FromQuery[str] = "",
        target_type: FromQuery[str] = "",
        target_id: FromQuery[str] = "",
        before: FromQuery[int | None] = None,
    ) -> Template:
        filters = {
            "actor": actor.strip(),
            "action": action.strip(),
            "target_type": target_type.strip(),
            "target_id": target_id.strip(),
        }
        rows = await audit.list_entries(limit=PAGE + 1, before_id=before, **filters)
        return render(
            request,
            "audit/list.html",
            entries=rows[:PAGE],
            filters=filters,
            page=cut_page(rows, limit=PAGE, cursor_of=lambda entry: str(entry.id)),
        )
