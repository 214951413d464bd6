"""The pages a customer lands on from a notice's signed link.

A GET only shows what the answer will do (mail scanners follow links); the answer is given by
the form's POST, and the workflow accepts each link once.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from api.deps import AnswersDep, SettingsDep
from api.errors import Conflict, Invalid, NotFound
from api.templating import templates_for
from closeout.domain import CustomerResponse
from closeout.i18n import DEFAULT_LOCALE, N_, catalog_for
from closeout.links import FORGED_REASON, CustomerLink, LinkKind, LinkProblem, LinkRefused

router = APIRouter(tags=["customer answers"], include_in_schema=False)


PAGES: dict[CustomerResponse, dict[str, Any]] = {
    CustomerResponse.STAY: {
        "heading": N_("Keep my account"),
        "explanation": N_(
            "Tell us you want to stay, and we will stop the closing of your account."
        ),
        "button": N_("Yes, I want to stay"),
        "done": N_("We have noted that you want to stay. Your account manager will be in touch."),
    },
    CustomerResponse.OBJECT: {
        "heading": N_("Object to the closure"),
        "explanation": N_(
            "Tell us why your account should not be closed. Your account manager "
            "will review it before anything happens."
        ),
        "button": N_("Send my objection"),
        "needs_text": True,
        "text_label": N_("Why should we keep your account open?"),
        "done": N_(
            "We have received your objection. Your account will not be closed before your "
            "account manager has reviewed it."
        ),
    },
    CustomerResponse.DOWNLOAD_DATA: {
        "heading": N_("Download a copy of my data"),
        "explanation": N_(
            "We will prepare a copy of every record we hold about your account and "
            "e-mail you a link to download it."
        ),
        "button": N_("Prepare my data"),
        "done": N_(
            "We are preparing your data. You will receive an e-mail with a download link "
            "in a few minutes."
        ),
    },
    CustomerResponse.REQUEST_DELETION: {
        "heading": N_("Delete my data"),
        "explanation": N_(
            "We will delete everything we are not required by law to keep, and answer within "
            "a month. The records the law obliges us to keep (such as invoices and contracts) "
            "are locked away, used for nothing else, and deleted when their period ends."
        ),
        "button": N_("Delete my data"),
        "done": N_(
            "We have your request. We will tell you by e-mail what we deleted and what the law "
            "obliges us to keep, and until when."
        ),
    },
    CustomerResponse.CONFIRM_CLOSURE: {
        "heading": N_("Confirm the closure"),
        "explanation": N_("Confirm that you agree with the closure of your account."),
        "button": N_("Confirm the closure"),
        "done": N_("Thank you for confirming. We will tell you when your account is closed."),
    },
}
# The languages a customer may read the pages in, each named in itself.
LANGUAGES = (("en", "English"), ("zh-CN", "中文"))
# Forged 400, expired 410; a link refused by the case itself (used, too late) 409.
STATUS_FOR_PROBLEM: dict[str, int] = {LinkProblem.FORGED: 400, LinkProblem.EXPIRED: 410}


def customer_page(
    request: Request,
    settings: SettingsDep,
    name: str,
    status: int = 200,
    *,
    catalog: str = DEFAULT_LOCALE,
    **context: Any,
) -> Response:
    if chosen_lang(request):
        catalog = catalog_for(chosen_lang(request))
    context |= {
        "company": settings.company_name,
        "company_contact": settings.company_contact,
        "lang": catalog.replace("_", "-"),
        "languages": LANGUAGES,
        "page_path": request.url.path,
    }
    return templates_for(catalog).TemplateResponse(
        request, f"answers/{name}.html", context, status_code=status
    )


def chosen_lang(request: Request) -> str | None:
    """The language the customer chose on the page (`?lang=`), over their account's."""
    chosen = request.query_params.get("lang")
    return chosen if chosen in dict(LANGUAGES) else None


def _keep_lang(request: Request, path: str) -> str:
    """`path`, in the language the customer chose, if they chose one."""
    chosen = chosen_lang(request)
    return f"{path}?lang={chosen}" if chosen else path


def client_of(request: Request) -> str:
    """The client's address, as the proxy in front of the API tells it."""
    return request.client.host if request.client else "unknown"


def too_many(what: str, wait: int) -> Response:
    """A 429 saying what there was too much of, and when to try again."""
    return PlainTextResponse(
        f"Too many {what} from this address: try again in {wait} seconds.",
        status_code=429,
        headers={"Retry-After": str(wait)},
    )


def _refused(
    request: Request, settings: SettingsDep, answers: AnswersDep, refusal: LinkRefused
) -> Response:
    client = client_of(request)
    answers.record_refusal(refusal, client)
    wait = answers.retry_after(client)
    if wait is not None:
        # A loop of refused links: counted, but no page until the minute is over.
        return too_many("refused links", wait)
    status = STATUS_FOR_PROBLEM.get(refusal.kind, 409)
    catalog = answers.catalog_of(refusal.link) if refusal.link else DEFAULT_LOCALE
    return customer_page(
        request, settings, "refused", status, catalog=catalog, reason=refusal.reason
    )


def _open(answers: AnswersDep, token: str) -> CustomerLink:
    link: CustomerLink = answers.links.verify(token)
    if link.action not in PAGES:
        raise LinkRefused(LinkProblem.FORGED, FORGED_REASON, link)
    return link


@router.get("/r/{token}", response_class=HTMLResponse)
def answer_page(
    token: str, request: Request, settings: SettingsDep, answers: AnswersDep
) -> Response:
    """Show what the answer will do; change nothing."""
    try:
        link = _open(answers, token)
    except LinkRefused as refusal:
        return _refused(request, settings, answers, refusal)
    return customer_page(
        request,
        settings,
        "confirm",
        catalog=answers.catalog_of(link),
        action_url=_keep_lang(request, f"/r/{token}"),
        **PAGES[link.action],
    )


@router.post("/r/{token}", response_class=HTMLResponse)
async def answer(
    token: str,
    request: Request,
    settings: SettingsDep,
    answers: AnswersDep,
    comment: Annotated[str | None, Form(max_length=4000)] = None,
) -> Response:
    """Give the answer: it goes to the case's workflow, which accepts each link once."""
    try:
        link = _open(answers, token)
    except LinkRefused as refusal:
        return _refused(request, settings, answers, refusal)
    page = PAGES[link.action]
    try:
        await answers.answer(link, comment)
    except Invalid:
        return customer_page(
            request,
            settings,
            "confirm",
            422,
            catalog=answers.catalog_of(link),
            action_url=_keep_lang(request, f"/r/{token}"),
            error=N_("Please tell us why, in a few words."),
            comment=comment,
            **page,
        )
    except (Conflict, NotFound) as exc:
        stale = LinkRefused(
            "used" if "already been used" in exc.message else "stale",
            _customer_reason(exc.message),
            link,
        )
        return _refused(request, settings, answers, stale)
    return RedirectResponse(_keep_lang(request, f"/r/{token}/done"), status_code=303)


@router.get("/r/{token}/done", response_class=HTMLResponse)
def answered(token: str, request: Request, settings: SettingsDep, answers: AnswersDep) -> Response:
    try:
        link = _open(answers, token)
    except LinkRefused as refusal:
        return customer_page(
            request,
            settings,
            "refused",
            STATUS_FOR_PROBLEM.get(refusal.kind, 409),
            reason=refusal.reason,
        )
    return customer_page(
        request,
        settings,
        "done",
        catalog=answers.catalog_of(link),
        message=PAGES[link.action]["done"],
    )


def _customer_reason(message: str) -> str:
    if "already been used" in message:
        return N_("This link has already been used: your answer was recorded the first time.")
    return N_("Your account's closure has moved past the point where this answer applies.")


@router.get("/exports/{token}")
def download_export(
    token: str, request: Request, settings: SettingsDep, answers: AnswersDep
) -> Response:
    """The customer's data export, behind its own signed link, for a limited time."""
    try:
        link = answers.links.verify(token, kind=LinkKind.EXPORT)
        if link.action is not CustomerResponse.DOWNLOAD_DATA:
            raise LinkRefused(LinkProblem.FORGED, FORGED_REASON, link)
        data = answers.data_export(link)
    except LinkRefused as refusal:
        return _refused(request, settings, answers, refusal)
    except NotFound:
        return customer_page(
            request,
            settings,
            "refused",
            410,
            reason=N_("This copy of your data is no longer available."),
        )
    return Response(
        data,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="my-data-{link.link_id[:8]}.json"'},
    )
