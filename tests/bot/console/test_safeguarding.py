"""The safeguarding page: only for accounts with the permission, whatever their role."""

from __future__ import annotations

from sqlalchemy import select

from bot.models import AuditEvent, SafeguardingAlert
from bot.services.safeguarding import record_alert
from bot.services.users import user_by_email
from tests.bot.console.conftest import csrf


def _post(client, path: str, **data):
    return client.post(path, data={**data, "csrf_token": csrf(client)})


def _alert(database, text: str = "he hits me when hes drunk") -> int:
    with database.transaction() as s:
        return record_alert(s, "conv-1", kind="abuse", text=text, channel="telegram").id


def test_no_role_sees_alerts_without_the_permission(app, signed_in, database):
    _alert(database)
    for role in ("analyst", "officer", "admin"):
        client = signed_in(role)
        assert client.get("/safeguarding").status_code == 403
        page = client.get("/").get_data(as_text=True)
        assert "he hits me" not in page and 'href="/safeguarding"' not in page
    assert app.test_client().get("/safeguarding").status_code == 302  # to the sign-in page


def test_an_admin_gives_the_permission_and_it_applies_at_once(signed_in, database):
    alert_id = _alert(database)
    admin = signed_in("admin")
    officer = signed_in("officer")
    with database.transaction() as s:
        officer_id = user_by_email(s, "officer@council.example").id
    assert _post(admin, f"/users/{officer_id}/safeguarding", allowed="yes").status_code == 302
    page = officer.get("/safeguarding")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "he hits me when hes drunk" in text and "Abuse or domestic abuse" in text
    assert "Telegram" in text and "1</strong> waiting" in text
    assert 'href="/safeguarding"' in officer.get("/").get_data(as_text=True)

    assert _post(officer, f"/safeguarding/{alert_id}/handled").status_code == 302
    with database.transaction() as s:
        alert = s.get(SafeguardingAlert, alert_id)
        assert alert.handled_by == "officer@council.example" and alert.handled_at is not None
        actions = s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        assert "user.safeguarding" in actions and actions[-1] == "safeguarding.handled"
    assert "Nothing waiting." in officer.get("/safeguarding").get_data(as_text=True)
    assert "he hits me" in officer.get("/safeguarding?all=1").get_data(as_text=True)

    assert _post(admin, f"/users/{officer_id}/safeguarding", allowed="no").status_code == 302
    assert officer.get("/safeguarding").status_code == 403


def test_marking_needs_csrf_and_an_existing_alert(signed_in, database):
    alert_id = _alert(database)
    admin = signed_in("admin")
    with database.transaction() as s:
        user_by_email(s, "admin@council.example").safeguarding = True
    assert admin.post(f"/safeguarding/{alert_id}/handled").status_code in (400, 403)
    assert _post(admin, "/safeguarding/999999/handled").status_code == 404
    with database.transaction() as s:
        assert s.get(SafeguardingAlert, alert_id).handled_at is None
