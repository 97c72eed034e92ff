"""Partner offers (CATALOG): create, edit, load a pool of discount codes, see what is left
and who redeemed them (codes masked; showing one in full is audited)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from app.admin.auth import current_staff
from app.admin.forms import text, ticked, utc_datetime, whole_number
from app.admin.pages import redirect, render
from app.admin.refusals import form_errors, refuses
from app.audit import service as audit
from app.core.errors import DomainError, ErrorCode
from app.offers import catalog as offers
from app.offers import redeeming
from app.offers.catalog import OfferRecord
from app.offers.redeeming import RedemptionRecord
from app.staff.service import Role
from app.users import service as users

ROLES = {"roles": [Role.CATALOG]}
HOME = "/admin/offers"
STATUSES = {"all": None, "active": True, "inactive": False}
PAGE = 50
REDEMPTIONS_PAGE = 50
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
SHOW_DUPLICATES_CHARS = 400  # the flash message rides in a cookie: keep it well under 4 KB


async def _create_form_again(request: Request[Any, Any, Any], errors: dict[str, str]) -> Template:
    return await _list_page(request, status_code=400, errors=errors, form=await request.form())


async def _edit_form_again(request: Request[Any, Any, Any], errors: dict[str, str]) -> Template:
    offer = await _offer_or_404(request.path_params["offer_id"])
    return await _detail_page(
        request, offer, status_code=400, errors=errors, form=await request.form()
    )


async def _codes_form_again(request: Request[Any, Any, Any], errors: dict[str, str]) -> Template:
    offer = await _offer_or_404(request.path_params["offer_id"])
    codes = text(await request.form(), "codes")
    return await _detail_page(request, offer, status_code=400, errors=errors, codes=codes)


class OffersController(Controller):
    path = HOME

    @get("/", opt=ROLES)
    async def list_offers(
        self,
        request: Request[Any, Any, Any],
        status: FromQuery[str] = "all",
        after: FromQuery[str | None] = None,
        before: FromQuery[str | None] = None,
    ) -> Template:
        return await _list_page(request, status=status, after=after, before=before)

    @post("/", opt=ROLES)
    @refuses(form_errors(_create_form_again, default_field="title"))
    async def create(self, request: Request[Any, Any, Any]) -> Redirect:
        form = await request.form()
        offer_id = await offers.create_offer(
            **_offer_fields(form), actor=current_staff(request).actor
        )
        return redirect(f"{HOME}/{offer_id}", "Offer created. Load its discount codes below.")

    @get("/{offer_id:int}", opt=ROLES)
    async def show(
        self,
        request: Request[Any, Any, Any],
        offer_id: FromPath[int],
        after: FromQuery[str | None] = None,
        before: FromQuery[str | None] = None,
    ) -> Template:
        return await _detail_page(
            request, await _offer_or_404(offer_id), after=after, before=before
        )

    @post("/{offer_id:int}", opt=ROLES)
    @refuses(form_errors(_edit_form_again, default_field="title"))
    async def edit(self, request: Request[Any, Any, Any], offer_id: FromPath[int]) -> Redirect:
        offer = await _offer_or_404(offer_id)
        form = await request.form()
        await offers.edit_offer(offer.id, **_offer_fields(form), actor=current_staff(request).actor)
        return redirect(f"{HOME}/{offer.id}", "Offer saved.")

    @post("/{offer_id:int}/redemptions/{redemption_id:int}/code", opt=ROLES)
    async def reveal_code(
        self,
        request: Request[Any, Any, Any],
        offer_id: FromPath[int],
        redemption_id: FromPath[int],
    ) -> Template:
        """The page again with one redemption's code in full (a POST: each look is audited)."""
        offer = await _offer_or_404(offer_id)
        on_page = text(await request.form(), "after") or None  # the page the button was on
        try:
            shown = await redeeming.reveal_code(
                offer.id, redemption_id, actor=current_staff(request).actor
            )
        except DomainError as error:
            raise NotFoundException(error.message) from None
        return await _detail_page(request, offer, after=on_page, revealed=shown)

    @post("/{offer_id:int}/codes", opt=ROLES)
    @refuses(form_errors(_codes_form_again, default_field="codes"))
    async def load_codes(
        self, request: Request[Any, Any, Any], offer_id: FromPath[int]
    ) -> Redirect:
        offer = await _offer_or_404(offer_id)
        form = await request.form()
        codes = offers.parse_codes(text(form, "codes")) + await _uploaded_codes(form.get("file"))
        if not codes:
            raise DomainError(
                ErrorCode.INVALID_INPUT, "Paste codes or choose a file with codes.", "codes"
            )
        loaded = await offers.load_codes(offer.id, codes, actor=current_staff(request).actor)
        message = f"{loaded.added:,} code(s) added."
        if loaded.duplicates:
            shown = _first_codes(loaded.duplicates)
            more = len(loaded.duplicates) - len(shown)
            message += f" {len(loaded.duplicates):,} duplicate(s) skipped: {', '.join(shown)}"
            message += f" and {more:,} more." if more > 0 else "."
        return redirect(f"{HOME}/{offer.id}", message, kind="success" if loaded.added else "error")


def _offer_fields(form: Any) -> dict[str, Any]:
    """The offer form's fields as the catalog service takes them; a blank limit is 1."""
    limit = whole_number(form, "perUserLimit", label="a limit per user", required=False)
    return {
        "brand": text(form, "brand"),
        "title": text(form, "title"),
        "coin_cost": whole_number(form, "coinCost", label="a coin cost") or 0,
        "active": ticked(form, "active"),
        "per_user_limit": 1 if limit is None else limit,
        "expires_at": utc_datetime(form, "expiresAt", label="an expiry date"),
        "terms": text(form, "terms"),
    }


def mask_code(code: str) -> str:
    """Enough of a code to match it with a user's (its last 4 characters), not to use it."""
    return "••••" + (code[-4:] if len(code) > 8 else "")


def _first_codes(codes: list[str]) -> list[str]:
    shown: list[str] = []
    for code in codes:
        if shown and sum(map(len, shown)) + len(code) > SHOW_DUPLICATES_CHARS:
            break
        shown.append(code if len(code) <= 40 else code[:39] + "…")
    return shown


async def _uploaded_codes(upload: Any) -> list[str]:
    if not isinstance(upload, UploadFile) or not upload.filename:
        return []
    content = await upload.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        raise DomainError(ErrorCode.INVALID_INPUT, "A file of codes is at most 2 MB.", "file")
    try:
        decoded = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "Upload a UTF-8 text or CSV file.", "file"
        ) from None
    try:
        return offers.parse_codes(decoded)
    except DomainError as error:
        raise DomainError(error.code, f"{upload.filename}: {error.message}", "file") from None


async def _offer_or_404(offer_id: int) -> OfferRecord:
    found = await offers.offers_by_ids([offer_id])
    if offer_id not in found:
        raise NotFoundException("No such offer.")
    return found[offer_id]


async def _list_page(
    request: Request[Any, Any, Any],
    *,
    status: str = "all",
    after: str | None = None,
    before: str | None = None,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    form: Any = None,
) -> Template:
    status = status if status in STATUSES else "all"
    page = await offers.page_of_offers(
        active=STATUSES[status], limit=PAGE, after=after, before=before
    )
    return render(
        request,
        "offers/list.html",
        status_code=status_code,
        offers=page.items,
        page=page,
        loaded=await offers.codes_loaded([offer.id for offer in page.items]),
        status=status,
        errors=errors or {},
        form=_values(form) if form is not None else {"active": "yes", "perUserLimit": "1"},
    )


async def _detail_page(
    request: Request[Any, Any, Any],
    offer: OfferRecord,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    form: Any = None,
    codes: str = "",
    after: str | None = None,
    before: str | None = None,
    revealed: RedemptionRecord | None = None,
) -> Template:
    redemptions = await redeeming.page_of_offer_redemptions(
        offer.id, limit=REDEMPTIONS_PAGE, after=after, before=before
    )
    if revealed is not None and revealed not in redemptions.items:
        # the list moved since the button was drawn: the page that starts at this one
        redemptions = await redeeming.page_of_offer_redemptions(
            offer.id, limit=REDEMPTIONS_PAGE, after=str(revealed.id + 1)
        )
    redeemers = await users.users_by_ids(sorted({r.user_id for r in redemptions.items}))
    return render(
        request,
        "offers/detail.html",
        status_code=status_code,
        offer=offer,
        redemptions=redemptions,
        redeemers=redeemers,
        revealed=revealed,
        mask_code=mask_code,
        loaded=(await offers.codes_loaded([offer.id]))[offer.id],
        history=await audit.list_entries(
            limit=20, target_type="partner_offer", target_id=str(offer.id)
        ),
        page_after=after or "",
        errors=errors or {},
        form=_values(form)
        if form is not None
        else {
            "brand": offer.brand,
            "title": offer.title,
            "coinCost": str(offer.coin_cost),
            "active": "yes" if offer.active else "",
            "perUserLimit": str(offer.per_user_limit),
            "expiresAt": offer.expires_at.strftime("%Y-%m-%dT%H:%M") if offer.expires_at else "",
            "terms": offer.terms,
        },
        codes=codes,
    )


def _values(form: Any) -> dict[str, str]:
    return {key: value for key, value in dict(form).items() if isinstance(value, str)}
