"""The public request form: a customer asks for their data to be deleted, confirms it from
their mailbox, and the request runs on the law's clock (api/privacy_requests.py)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from api.deps import SettingsDep, from_state
from api.privacy_requests import PrivacyRequests, RequestNotTaken
from api.routes.answers import chosen_lang, client_of, customer_page, too_many
from closeout.i18n import DEFAULT_LOCALE, N_
from closeout.links import LinkRefused

router = APIRouter(tags=["customer answers"], include_in_schema=False)
PrivacyDep = Annotated[PrivacyRequests, Depends(from_state("privacy", PrivacyRequests))]
# An address as a person types it: something@somewhere.tld, no spaces.
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s.]{2,63}$")


def _lang(request: Request) -> str:
    """The language the customer chose, one of the pages' own (never the raw parameter: it
    goes into a mail's link)."""
    return chosen_lang(request) or "en"


@router.get("/privacy/request")
def request_form(request: Request, settings: SettingsDep) -> Response:
    """Ask for your data to be deleted: the form."""
    return customer_page(request, settings, "request_form", catalog=DEFAULT_LOCALE)


@router.post("/privacy/request")
def ask(
    request: Request,
    settings: SettingsDep,
    privacy: PrivacyDep,
    background: BackgroundTasks,
    email: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    """The same answer whatever the address; the confirmation goes out after it."""
    wait = privacy.throttled(client_of(request))
    if wait is not None:
        return too_many("requests", wait)
    address = email.strip()
    if not EMAIL.match(address):
        return customer_page(
            request,
            settings,
            "request_form",
            422,
            error=N_("Please give the e-mail address your account uses."),
            email=address,
        )
    background.add_task(privacy.send_confirmations, address, _lang(request))
    return customer_page(request, settings, "request_sent", email=address)


@router.get("/privacy/request/{token}")
def confirm_page(
    token: str, request: Request, settings: SettingsDep, privacy: PrivacyDep
) -> Response:
    """What confirming will do; nothing changes on opening the link."""
    try:
        privacy.verify(token)
    except LinkRefused as refusal:
        return customer_page(request, settings, "refused", 400, reason=refusal.reason)
    return customer_page(
        request,
        settings,
        "confirm",
        heading=N_("Delete my data"),
        explanation=N_(
            "We will delete everything we are not required by law to keep, and answer within "
            "a month. The records the law obliges us to keep (such as invoices and contracts) "
            "are locked away, used for nothing else, and deleted when their period ends."
        ),
        button=N_("Delete my data"),
        action_url=f"/privacy/request/{token}?lang={_lang(request)}",
    )


@router.post("/privacy/request/{token}")
async def confirm(
    token: str, request: Request, settings: SettingsDep, privacy: PrivacyDep
) -> Response:
    """Start the request (a second confirmation changes nothing)."""
    try:
        link = privacy.verify(token)
        await privacy.confirm(link)
    except LinkRefused as refusal:
        return customer_page(request, settings, "refused", 400, reason=refusal.reason)
    except RequestNotTaken as refused:
        return customer_page(request, settings, "refused", 409, reason=refused.reason)
    return RedirectResponse(f"/privacy/request/{token}/done?lang={_lang(request)}", status_code=303)


@router.get("/privacy/request/{token}/done")
def confirmed(token: str, request: Request, settings: SettingsDep) -> Response:
    return customer_page(
        request,
        settings,
        "done",
        message=N_(
            "We have your request. We will tell you by e-mail what we deleted and what the law "
            "obliges us to keep, and until when."
        ),
    )
