"""The officer console in Debian's Chromium: sign in, compose, change, publish, delivery;
an analyst downloads an export; an officer adds a check-in question and re-themes a view.

The real server (`python -m bot.console`) runs on a free port with its own SQLite file; the
account is made with `engage users create`; `engage notifier --once` sends through the
fake Twilio and Telegram, and the delivery page reaches "sent" by refreshing itself.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bot.db import Database
from bot.migrate import upgrade
from bot.services.identities import resident_for
from bot.services.safeguarding import record_alert
from bot.services.users import user_by_email
from bot.services.views import store_view
from bot.settings import PROJECT_ROOT
from tests.e2e.conftest import free_port
from tests.residents import add_resident

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
EMAIL, PASSWORD = "officer@council.example", "correct horse battery"
ANALYST = "analyst@council.example"
NUMBER, CHAT = "+447700900101", "2002"
MESSAGE = (
    "Leeds Listens: you and others told us buses stop too early. From 3 March the 42 runs "
    "until 11pm. Did this help? Reply YES or NO. Reply STOP to stop."
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
]


def _env(workdir: Path, fake_url: str, **extra: str) -> dict[str, str]:
    return dict(
        os.environ,
        DATABASE_URL=f"sqlite:///{workdir / 'engage.db'}",
        ENGAGE_VAR_DIR=str(workdir),
        RASA_TELEMETRY_ENABLED="false",
        QUIET_HOURS="off",
        TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        TWILIO_AUTH_TOKEN="browser-auth-token-0123456789",
        TWILIO_FROM_NUMBER="+447700900000",
        TWILIO_API_BASE_URL=fake_url,
        TELEGRAM_BOT_TOKEN="123456:BROWSER-token",
        TELEGRAM_API_BASE_URL=fake_url,
        EXPORT_PSEUDONYM_KEY="browser-pseudonym-key",
        **extra,
    )


def _engage(env: dict[str, str], *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], cwd=PROJECT_ROOT, env=env,
        input=stdin, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def console(tmp_path, fake) -> Iterator[tuple[str, dict[str, str]]]:
    """A migrated, seeded database, one officer, and the console serving it."""
    port = free_port()
    env = _env(tmp_path, fake.base_url, CONSOLE_PORT=str(port))
    upgrade(env["DATABASE_URL"])
    database = Database(env["DATABASE_URL"])
    with database.transaction() as s:
        for channel, address in (("sms", NUMBER), ("telegram", CHAT)):
            person = add_resident(s, channel, address, area="LS6")
            store_view(s, person, text="the last bus is at 6", theme_key="roads_transport",
                       confidence=0.9, channel=channel)  # fmt: skip
    database.dispose()
    _engage(env, "users", "create", "--email", EMAIL, "--name", "Olu Officer", "--role",
            "officer", "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    log = (tmp_path / "console.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "bot.console"], cwd=PROJECT_ROOT, env=env,
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{base}/healthz", timeout=2).ok:
                break
        except requests.RequestException:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail("the console did not start:\n" + (tmp_path / "console.log").read_text())
        time.sleep(0.2)
    started = (tmp_path / "console.log").read_text()
    assert f"Officer console listening on http://127.0.0.1:{port}" in started
    yield base, env
    server.terminate()
    server.wait(timeout=20)
    log.close()


def test_officer_publishes_an_update_and_sees_it_sent(console, fake):
    from playwright.sync_api import expect, sync_playwright

    base, env = console
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.set_default_timeout(15_000)

        page.goto(f"{base}/updates/new")  # asks for a sign-in first, then comes back
        page.get_by_label("Email address").fill(EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(
            'Write a "you said, we did" update'
        )

        page.get_by_label("Title").fill("Later buses")
        page.get_by_label("You said").fill("buses stop too early")
        page.get_by_label("We did").fill("From 3 March the 42 runs until 11pm")
        expect(page.locator("#sms-text")).to_have_text(MESSAGE)  # its full stop added
        expect(page.locator("#sms-count")).to_have_text("Plain text: 148 characters, 1 SMS.")
        page.get_by_label("We did").type(" \u2019")  # a curly quote is made plain...
        expect(page.locator("#sms-count")).to_contain_text("Plain text")
        expect(page.locator("#sms-text")).to_contain_text("until 11pm '.")
        page.get_by_label("We did").type("\U0001f642")  # ... an emoji cannot be
        expect(page.locator("#sms-count")).to_contain_text("With special characters")
        page.get_by_label("We did").fill("From 3 March the 42 runs until 10pm.")
        page.get_by_label("Roads & transport").check()
        page.get_by_label("Areas").fill("LS6")
        page.get_by_role("button", name="Save and preview").click()

        expect(page.locator("#recipients")).to_have_text(
            "2 residents would be told: 1 by SMS, 1 by Telegram."
        )
        expect(page.locator("#message")).to_contain_text("until 10pm.")
        # Deleting asks first; saying no keeps the draft.
        page.once("dialog", lambda dialog: dialog.dismiss())
        page.get_by_role("button", name="Delete the draft").click()
        expect(page.locator("#message")).to_contain_text("until 10pm.")
        # A typo: change the draft, then preview it again.
        page.get_by_role("link", name="Change the draft").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Change the draft")
        expect(page.get_by_label("Areas")).to_have_value("LS6")
        page.get_by_label("We did").fill("From 3 March the 42 runs until 11pm.")
        page.get_by_role("button", name="Save and preview").click()
        expect(page.get_by_role("status")).to_have_text("Draft saved.")
        expect(page.locator("#message")).to_have_text(MESSAGE)
        page.get_by_role("button", name="Publish to 2 residents").click()
        expect(page.get_by_role("status")).to_have_text("Published: 2 residents will be told.")
        expect(page.locator('[data-status="queued"]')).to_have_text("2")
        expect(page.locator("#delivery-state")).to_contain_text("refreshes by itself")

        print(_engage(env, "notifier", "--once"))
        # The page polls while anything is queued, then reloads itself once sending ends.
        expect(page.locator('[data-status="sent"]')).to_have_text("2")
        expect(page.locator('[data-status="queued"]')).to_have_text("0")
        expect(page.locator("#delivery-state")).to_have_text("Nothing is waiting to be sent.")
        browser.close()
    assert fake.sms_to(NUMBER) == [MESSAGE]
    assert [m["text"] for m in fake.telegram_to(CHAT)] == [MESSAGE]
    assert problems == []  # no script errors, no Content-Security-Policy violations


def test_analyst_downloads_views_as_csv(console):
    from playwright.sync_api import expect, sync_playwright

    base, env = console
    _engage(env, "users", "create", "--email", ANALYST, "--name", "Ada Analyst", "--role",
            "analyst", "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    database = Database(env["DATABASE_URL"])
    with database.transaction() as s:  # the seeded resident gives their number in a view
        store_view(s, resident_for(s, "sms", NUMBER), text="ring me on 07700 900101",
                   theme_key="roads_transport", confidence=0.9, channel="sms")  # fmt: skip
    database.dispose()
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page(accept_downloads=True)
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.set_default_timeout(15_000)

        page.goto(base)
        page.get_by_label("Email address").fill(ANALYST)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        # On a phone the list of views scrolls inside its table, not the whole page.
        page.set_viewport_size({"width": 360, "height": 740})
        expect(page.locator("table").first).to_be_visible()
        sideways = "document.documentElement.scrollWidth - window.innerWidth"
        assert page.evaluate(sideways) <= 0
        page.set_viewport_size({"width": 1280, "height": 800})
        page.get_by_role("link", name="Exports").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Export data")
        page.get_by_label("Views", exact=True).check()
        page.get_by_label("CSV", exact=True).check()
        with page.expect_download() as downloading:
            page.get_by_role("button", name="Download the export").click()
        download = downloading.value
        body = Path(download.path()).read_bytes()
        browser.close()
    assert re.fullmatch(r"engage-views-\d{8}\.csv", download.suggested_filename)
    assert body.startswith("\ufeffresident,theme_key,theme_label,".encode())
    assert body.count(b"\r\n") == 4  # the header and three views
    assert b"ring me on [phone]" in body
    assert b"7700" not in body and b"900101" not in body
    assert problems == []


# Each key entry's swatch and the bounding box of its label's text, in CSS pixels.
KEY_BOXES = """() => Array.from(document.querySelectorAll('.chart .legend li')).map(li => {
  const swatch = li.querySelector('svg').getBoundingClientRect();
  const text = Array.from(li.childNodes).find(n => n.nodeType === 3 && n.textContent.trim());
  const range = document.createRange();
  range.selectNodeContents(text);
  const label = range.getBoundingClientRect();
  return {swatch: [swatch.left, swatch.right, swatch.top, swatch.bottom],
          label: [label.left, label.right, label.top, label.bottom], text: text.textContent};
})"""


def test_the_charts_key_puts_each_colour_next_to_its_label(console):
    from playwright.sync_api import expect, sync_playwright

    base, _ = console
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(15_000)
        page.goto(base)
        page.get_by_label("Email address").fill(EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator(".chart .legend li")).to_have_count(1)
        keys = page.evaluate(KEY_BOXES)
        plot = page.locator(".chart > svg").bounding_box()
        browser.close()
    assert plot is not None and plot["width"] > 300  # the plot still fills the figure
    assert [k["text"].strip() for k in keys] == ["Roads & transport: 2"]
    for key in keys:
        s_left, s_right, s_top, s_bottom = key["swatch"]
        l_left, _, l_top, l_bottom = key["label"]
        assert 11 <= s_right - s_left <= 13 and 11 <= s_bottom - s_top <= 13, key
        assert 0 <= l_left - s_right <= 8, key  # the colour sits just left of its label
        assert s_top < l_bottom and l_top < s_bottom, key  # on the same line


def test_officer_adds_a_checkin_question_rethemes_a_view_and_keeps_a_false_alarm(console):
    from playwright.sync_api import expect, sync_playwright

    base, env = console
    database = Database(env["DATABASE_URL"])
    with database.transaction() as s:
        user_by_email(s, EMAIL).safeguarding = True
        resident = resident_for(s, "sms", NUMBER)
        record_alert(s, resident.conversation_id, kind="danger_now", channel="sms",
                     text="the swings in the park are a death trap")  # fmt: skip
    database.dispose()
    question = "How are the buses? Reply 1 (awful) to 5 (great)."
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.set_default_timeout(15_000)
        page.goto(base)
        page.get_by_label("Email address").fill(EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()

        page.get_by_role("link", name="Check-ins").click()
        page.get_by_role("textbox", name="Question").fill(question)
        page.get_by_label("A number from 1 to 5").check()
        page.get_by_label("After a number, ask why").check()
        page.get_by_label("Roads & transport").check()
        page.get_by_label("Only residents in").fill("LS6")
        page.get_by_role("button", name="Preview").click()
        expect(page.locator("#checkin-text")).to_have_text(f"Hi from Leeds Listens. {question}")
        expect(page.locator("#checkin-size")).to_have_text(
            "Plain text: 71 characters, 1 SMS (on Telegram, with buttons 1 to 5)."
        )
        expect(page.locator("#checkin-reach")).to_have_text(
            "2 residents would be asked it now (at their next check-in)."
        )
        page.get_by_role("button", name="Add the question").click()
        expect(page.get_by_role("status")).to_have_text(
            "Question 1 added. It would be put to 2 residents as things are now."
        )
        expect(page.locator("#running")).to_contain_text(question)
        expect(page.locator("#answers-1")).to_have_text("Asked 0 times; 0 ratings; 0 said why.")

        page.get_by_role("link", name="Views", exact=True).click()
        expect(page.locator(".chart .legend li")).to_have_text(["Roads & transport: 2"])
        page.locator("#pick-views a").first.click()
        page.get_by_label("Main theme").select_option("housing")
        page.get_by_role("button", name="Change the theme").click()
        expect(page.get_by_role("status")).to_contain_text("Theme changed")
        expect(page.locator("#view-theme")).to_contain_text("Housing (set by an officer on")
        page.get_by_role("link", name="Views", exact=True).click()
        expect(page.locator(".chart .legend li")).to_have_text(
            ["Roads & transport: 1", "Housing: 1"]
        )

        # A false alarm on the safeguarding page is kept as the view it was, after a "sure?".
        page.get_by_role("link", name="Safeguarding").click()
        expect(page.locator("table")).to_contain_text("the swings in the park are a death trap")
        page.get_by_label("Plainly an ordinary view? Keep it as one, under").select_option(
            "parks_green_spaces"
        )
        # Answering no to the "sure?" sends nothing and leaves the button usable (data-once).
        page.once("dialog", lambda dialog: dialog.dismiss())
        page.get_by_role("button", name="Keep as a view").click()
        page.wait_for_timeout(200)  # past forms.js's disabling, had it disabled the button
        expect(page.get_by_role("button", name="Keep as a view")).to_be_enabled()
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Keep as a view").click()
        expect(page.get_by_role("status")).to_contain_text(
            "Kept as a view under Parks & green spaces"
        )
        expect(page.locator("main")).to_contain_text("Nothing waiting.")
        page.get_by_role("link", name="Views", exact=True).click()
        expect(page.locator(".chart .legend li")).to_contain_text(["Parks & green spaces: 1"])
        browser.close()
    assert problems == []
