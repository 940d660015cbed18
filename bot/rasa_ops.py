"""Rasa's /healthz and /metrics, registered as an input channel mounted at the root.

Rasa 3.6 serves no health check of its own without its HTTP API (which we keep off), and
mounts each input channel at /webhooks/<url_prefix>: this one's prefix is "/", so its
routes are /healthz (200 once the model is loaded, 503 before) and /metrics (bot/metrics.py).
It takes no messages. Registered in credentials.yml.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint

from bot import metrics


class OpsInput(InputChannel):
    """Health and metrics on Rasa's own port; no conversation goes through it."""

    @classmethod
    def name(cls) -> str:
        """The channel's name (never an output channel)."""
        return "ops"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> OpsInput:
        """Nothing to configure."""
        return cls()

    def url_prefix(self) -> str:
        """Mounted at the root: /healthz and /metrics."""
        return "/"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The two routes."""
        ops = Blueprint("engage_ops", __name__)
        metrics.sanic_routes(ops, _model_loaded)
        return ops


def _model_loaded(request: Any) -> bool:
    agent = getattr(request.app.ctx, "agent", None)
    return bool(agent is not None and agent.is_ready())
