"""Plain words for what the console shows officers: channels, audit events, who did it."""

from __future__ import annotations

import json

CHANNELS = {"sms": "SMS", "telegram": "Telegram", "rest": "web chat"}
# Audit action codes (bot.services.audit) as officers read them; unknown codes as they are.
AUDIT_ACTIONS = {
    "login.success": "Signed in",
    "logout": "Signed out",
    "update.draft": "Drafted an update",
    "update.edit": "Changed a draft",
    "update.delete": "Deleted a draft",
    "update.publish": "Published an update",
    "user.create": "Created an account",
    "user.disable": "Disabled an account",
    "user.enable": "Enabled an account",
    "user.role": "Changed a role",
    "user.safeguarding": "Changed safeguarding access",
    "resident.find": "Looked up a resident",
    "resident.export": "Exported a resident's data",
    "resident.erase": "Erased a resident",
    "safeguarding.handled": "Handled a safeguarding alert",
    "safeguarding.kept_as_view": "Kept a safeguarding alert as the view it was",
    "checkin.add": "Added a check-in question",
    "checkin.end": "Ended a check-in question",
    "view.retheme": "Re-themed views",
    "view.redact": "Redacted words of a view",
    "view.hide": "Hid views",
    "view.unhide": "Showed a hidden view again",
    "view.answered": "Linked views to an update",
    "topic.propose": "Proposed a new theme",
    "report": "Made the engagement report",
    "retention.run": "Deleted data past its retention period",
}
CLI_PREFIX = "cli:"


def channel_name(channel: str | None) -> str:
    """'SMS', 'Telegram', 'web chat' (for "rest"), or the code itself."""
    return CHANNELS.get(channel or "", channel or "")


def audit_action(action: str) -> str:
    """An audit action code in plain words ("login.success" -> "Signed in")."""
    if action.startswith("export."):
        return f"Exported {action.removeprefix('export.')}"
    return AUDIT_ACTIONS.get(action, action)


def audit_detail(detail: str | None) -> str:
    """An audit event's JSON detail as "key: value" pairs; empty when there is none."""
    try:
        values = json.loads(detail or "{}")
    except ValueError:
        return detail or ""
    if not isinstance(values, dict):
        return str(values)
    return "; ".join(f"{key.replace('_', ' ')}: {value}" for key, value in values.items())


def actor_name(actor: str | None, names: dict[str, str] | None = None) -> str:
    """Who did it: "terminal (root)" for "cli:root", an account's name for its email."""
    if not actor:
        return ""
    if actor.startswith(CLI_PREFIX):
        return f"terminal ({actor[len(CLI_PREFIX) :]})"
    return (names or {}).get(actor.lower(), actor)
