"""Admins: residents' requests. Find a resident, download all we hold on them, erase them.

The same service functions as `engage residents` (bot/cli/residents.py) and the same audit
actions: "resident.find" (the channel and whether someone was found, never the number),
"resident.export", and "resident.erase" (recorded by the erasure itself). Every form is a
POST, so phone numbers and chat ids stay out of URLs, server logs and browser history;
the page shows them again only in the box the admin typed them into.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue

from bot.cli.residents import CONFIRM_WORD
from bot.console import database, settings, tracker_database
from bot.console.forms import BadInput
from bot.console.security import login_required
from bot.erasure import Eraser, do_not_contact_key
from bot.models import Role
from bot.phone import InvalidNumber, to_e164
from bot.services import audit
from bot.services.identities import resident_at
from bot.services.rights import (
    ResidentSummary,
    subject_access,
    subject_access_json,
    summary,
)

blueprint = Blueprint("residents", __name__, url_prefix="/residents")

CHANNELS = {"sms": "Phone number (SMS)", "telegram": "Telegram chat id"}
MAX_ADDRESS = 64


def wanted_address(channel: str, typed: str) -> tuple[str, str]:
    """The (channel, address) the search form asks for; BadInput with a short reason."""
    typed = typed.strip()
    if channel == "sms":
        try:
            return "sms", to_e164(typed)
        except InvalidNumber:
            raise BadInput("That is not a phone number. Try it like 07700 900123.") from None
    if channel == "telegram":
        if typed.lstrip("-").isdigit():
            return "telegram", typed
        raise BadInput("That is not a Telegram chat id: it is a number, like 123456789.")
    raise BadInput("Choose a phone number or a Telegram chat id.")


def _eraser() -> Eraser:
    """The eraser of the running system, on the same tracker store as the downloads."""
    return Eraser(database(), tracker_database(), do_not_contact_key(settings()))


def _summary(resident_id: int) -> ResidentSummary | None:
    with database().transaction() as s:
        return summary(s, resident_id)


def _page(
    form: dict | None = None,
    found: ResidentSummary | None = None,
    searched: bool = False,
    error: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    form = form or {"channel": "sms", "address": ""}
    page = render_template(
        "residents.html",
        form=form,
        found=found,
        searched=searched,
        error=error,
        channels=CHANNELS,
        confirm_word=CONFIRM_WORD,
    )
    return page, status


@blueprint.get("")
@login_required(Role.ADMIN)
def index() -> ResponseReturnValue:
    """The search form."""
    return _page()


@blueprint.post("")
@login_required(Role.ADMIN)
def find() -> ResponseReturnValue:
    """Find the resident at a phone number or chat id (audited) and show their summary."""
    form = {
        "channel": request.form.get("channel", ""),
        "address": request.form.get("address", "")[:MAX_ADDRESS],
    }
    try:
        channel, where = wanted_address(form["channel"], form["address"])
    except BadInput as exc:
        return _page(form, error=str(exc), status=400)
    with database().transaction() as s:
        resident = resident_at(s, channel, where)
        found = summary(s, resident.id) if resident else None
        audit.record(
            s, actor=g.user.email, action="resident.find",
            target=f"resident:{found.resident_id}" if found else None,
            detail={"channel": channel, "found": found is not None},
            remote_addr=request.remote_addr,
        )  # fmt: skip
    return _page(form, found=found, searched=True)


@blueprint.post("/<int:resident_id>/export")
@login_required(Role.ADMIN)
def export(resident_id: int) -> ResponseReturnValue:
    """Everything held on the resident, as a JSON download (audited)."""
    with database().transaction() as s, tracker_database().engine.connect() as connection:
        copy = subject_access(s, connection, resident_id)
        if copy is None:
            return _page(error=f"No resident {resident_id}.", status=404)
        body = subject_access_json(copy).encode("utf-8")
        audit.record(
            s, actor=g.user.email, action="resident.export", target=f"resident:{resident_id}",
            detail={"turns": len(copy["conversation"])}, remote_addr=request.remote_addr,
        )  # fmt: skip
    return Response(
        body,
        content_type="application/json; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="resident-{resident_id}.json"',
            "Content-Length": str(len(body)),
        },
    )


@blueprint.post("/<int:resident_id>/erase")
@login_required(Role.ADMIN)
def erase(resident_id: int) -> ResponseReturnValue:
    """Erase the resident everywhere, once the admin has typed ERASE."""
    if request.form.get("confirm", "").strip() != CONFIRM_WORD:
        found = _summary(resident_id)
        if found is None:
            return _page(error=f"No resident {resident_id}.", status=404)
        message = f"Not erased: type {CONFIRM_WORD} in capitals to confirm."
        return _page(found=found, searched=True, error=message, status=400)
    erased = _eraser().erase(resident_id, g.user.email, request.remote_addr)
    if erased is None:
        return _page(error=f"No resident {resident_id}.", status=404)
    flash(
        f"Erased resident {resident_id}: {sum(erased.rows.values())} rows, "
        f"{erased.tracker_events} conversation events; "
        f"{erased.blocked_addresses} address(es) on the do-not-contact list."
    )
    return redirect(url_for("residents.index"))
