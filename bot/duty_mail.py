"""Tells the council's duty inbox that safeguarding messages arrived, never what they say."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from bot.db import Database
from bot.models import utcnow
from bot.services.safeguarding import mark_notified, to_notify
from bot.settings import Settings

logger = logging.getLogger(__name__)

TIMEOUT_S = 15
SUBJECT = "Safeguarding message received"
BODY = (
    "{count} new safeguarding message(s) arrived from residents.\n\n"
    "Read and handle them in the console: {url}\n\n"
    "This email never contains what residents wrote, or who they are."
)


def console_link(settings: Settings) -> str:
    """Where officers open the safeguarding page."""
    base = settings.console_url or f"http://{settings.console_host}:{settings.console_port}"
    return f"{base}/safeguarding"


def notice(settings: Settings, count: int) -> EmailMessage:
    """The email for `count` new alerts."""
    message = EmailMessage()
    message["Subject"] = SUBJECT
    message["From"] = settings.smtp_from or settings.safeguarding_notify_email
    message["To"] = settings.safeguarding_notify_email
    message.set_content(BODY.format(count=count, url=console_link(settings)))
    return message


def send(settings: Settings, message: EmailMessage) -> None:
    """Send through the configured SMTP server; raises OSError or SMTPException on failure."""
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_S) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(message)


def notify_duty_inbox(database: Database, settings: Settings) -> int:
    """Email the duty inbox about alerts it has not heard of; returns how many (0 if off)."""
    if not (settings.safeguarding_notify_email and settings.smtp_host):
        return 0
    with database.transaction() as session:
        waiting = to_notify(session)
    if not waiting:
        return 0
    try:
        send(settings, notice(settings, len(waiting)))
    except (OSError, smtplib.SMTPException) as exc:
        logger.warning("Could not email the duty inbox (%s); will try again.", type(exc).__name__)
        return 0
    with database.transaction() as session:
        mark_notified(session, waiting, utcnow())
    return len(waiting)
