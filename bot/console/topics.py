"""Emerging topics: views that fit no theme well, grouped by meaning (analysts and above);
officers merge a topic into a theme or propose it as a new one (a file for review).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from bot.console import database, settings
from bot.console.forms import BadInput, numbers
from bot.console.security import login_required
from bot.models import Role
from bot.services.curation import CurationError
from bot.services.topics import PERIOD_DAYS, TopicError, find_topics, merge_topic, propose_theme
from bot.themes import label

if TYPE_CHECKING:
    from bot.nlu.embeddings import CachedEncoder

blueprint = Blueprint("topics", __name__, url_prefix="/topics")


def encoder() -> CachedEncoder:
    """The process's sentence encoder (loaded on first use)."""
    from bot.nlu.embeddings import shared_encoder

    return shared_encoder(settings().encoder_dir)


def proposals_dir() -> Path:
    """Where proposed themes are written for review."""
    return settings().var_dir / "proposals"


def _reason(exc: Exception) -> str:
    message = str(exc)
    return message[:1].upper() + message[1:] + "."


@blueprint.get("")
@login_required(Role.ANALYST)
def index() -> ResponseReturnValue:
    """Each topic: its size, typical messages, districts and trend."""
    try:
        encode = encoder().encode
    except FileNotFoundError:
        return render_template("topics.html", topics=None, days=PERIOD_DAYS), 503
    with database().transaction() as s:
        topics = find_topics(s, encode, low_confidence=settings().theme_confidence_threshold)
    return render_template("topics.html", topics=topics, days=PERIOD_DAYS)


def _view_ids() -> list[int]:
    ids = numbers(" ".join(request.form.getlist("view")), "Views")
    if not ids:
        raise BadInput("the topic has no views")
    return ids


@blueprint.post("/merge")
@login_required(Role.OFFICER)
def merge() -> ResponseReturnValue:
    """Put every view of a topic under an existing theme."""
    try:
        view_ids = _view_ids()
        with database().transaction() as s:
            merge_topic(s, view_ids, request.form.get("theme", ""), actor=g.user.email,
                        remote_addr=request.remote_addr)  # fmt: skip
    except (BadInput, TopicError, CurationError) as exc:
        flash(f"Nothing changed: {_reason(exc)}")
        return redirect(url_for("topics.index"))
    moved = len(set(view_ids))
    flash(
        f"{moved} view{'' if moved == 1 else 's'} moved to {label(request.form.get('theme'))}: "
        "counts and targeting follow it now."
    )
    return redirect(url_for("topics.index"))


@blueprint.post("/propose")
@login_required(Role.OFFICER)
def propose() -> ResponseReturnValue:
    """Write a proposed theme from a topic, for review."""
    try:
        view_ids = _view_ids()
        with database().transaction() as s:
            folder = propose_theme(
                s, view_ids, key=request.form.get("key", ""),
                label=request.form.get("label", ""),
                description=request.form.get("description", ""),
                directory=proposals_dir(), actor=g.user.email, remote_addr=request.remote_addr,
            )  # fmt: skip
    except (BadInput, TopicError) as exc:
        flash(f"Nothing proposed: {_reason(exc)}")
        return redirect(url_for("topics.index"))
    except OSError:
        abort(500)
    flash(
        f"Proposed the theme {folder.name}. Whoever looks after the assistant reviews it and "
        f"teaches it the theme; until then its views stay where they are. (For them: the "
        f"theme's entry and examples are in {folder}.)"
    )
    return redirect(url_for("topics.index"))
