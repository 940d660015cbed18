"""The safeguarding page: only for accounts with the permission, whatever their role."""

from __future__ import annotations

from sqlalchemy import select

from bot.models import AuditEvent, SafeguardingAlert, View
from bot.services.consent import record_consent
from bot.services.residents import find_resident
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


def _duty_officer(signed_in, database):
    officer = signed_in("officer")
    with database.transaction() as s:
        user_by_email(s, "officer@council.example").safeguarding = True
    return officer


def test_a_false_alarm_is_kept_as_the_view_it_was(signed_in, database):
    alert_id = _alert(database, "the crossing by the school is a death trap")
    with database.transaction() as s:
        record_consent(s, find_resident(s, "conv-1"), given=True, wording="ok?", channel="sms")
    officer = _duty_officer(signed_in, database)
    page = officer.get("/safeguarding").get_data(as_text=True)
    assert "Keep as a view" in page and "Roads &amp; transport" in page
    assert '<option value="" selected disabled>Choose a theme</option>' in page  # no default

    answer = _post(officer, f"/safeguarding/{alert_id}/view", theme="roads_transport")
    assert answer.status_code == 302
    page = officer.get("/safeguarding").get_data(as_text=True)
    assert "Kept as a view under Roads &amp; transport" in page and "Nothing waiting." in page
    with database.transaction() as s:
        view_id = s.get(SafeguardingAlert, alert_id).view_id
        assert s.get(View, view_id).theme_key == "roads_transport"
    handled = officer.get("/safeguarding?all=1").get_data(as_text=True)
    assert f'href="/views/{view_id}"' in handled and "crossing by the school" not in handled
    assert "death trap" in officer.get(f"/views/{view_id}").get_data(as_text=True)

    _post(officer, f"/safeguarding/{alert_id}/view", theme="housing")  # handled already
    assert "handled already" in officer.get("/safeguarding").get_data(as_text=True)
    audit = signed_in("admin").get("/audit").get_data(as_text=True)
    assert "Kept a safeguarding alert as the view it was" in audit


def test_no_view_is_kept_without_consent_a_theme_the_permission_or_an_officer(signed_in, database):
    alert_id = _alert(database, "the crossing by the school is a death trap")
    officer = _duty_officer(signed_in, database)
    _post(officer, f"/safeguarding/{alert_id}/view", theme="roads_transport")
    assert "not agreed to us keeping their views" in officer.get("/safeguarding").get_data(
        as_text=True
    )
    with database.transaction() as s:
        record_consent(s, find_resident(s, "conv-1"), given=True, wording="ok?", channel="sms")
    for theme in ("<script>", ""):
        _post(officer, f"/safeguarding/{alert_id}/view", theme=theme)
        page = officer.get("/safeguarding").get_data(as_text=True)
        assert "Choose a theme from the list." in page
    assert _post(officer, "/safeguarding/999999/view", theme="housing").status_code == 404
    analyst = signed_in("analyst")  # reading alerts is not writing views: officers only
    assert _post(analyst, f"/safeguarding/{alert_id}/view", theme="housing").status_code == 403
    with database.transaction() as s:
        user_by_email(s, "analyst@council.example").safeguarding = True
    assert "Keep as a view" not in analyst.get("/safeguarding").get_data(as_text=True)
    assert _post(analyst, f"/safeguarding/{alert_id}/view", theme="housing").status_code == 403
    with database.transaction() as s:
        assert s.scalars(select(View)).all() == []
        assert s.get(SafeguardingAlert, alert_id).handled_at is None


def test_keeping_a_disclosure_as_a_view_asks_a_stronger_sure(signed_in, database):
    with database.transaction() as s:
        record_alert(
            s, "conv-2", kind="self_harm", text="this council is killing me", channel="sms"
        )
    page = _duty_officer(signed_in, database).get("/safeguarding").get_data(as_text=True)
    assert "This was read as Risk to life (self-harm, suicide). Keep it as an ordinary view" in page
