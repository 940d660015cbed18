"""Rasa sends the domain only to actions marked send_domain: every action reading it is."""

from __future__ import annotations

import inspect
import re

import yaml
from rasa_sdk import Action
from rasa_sdk.executor import ActionExecutor

from bot.settings import PROJECT_ROOT
from tests.test_domain import DOMAIN


def _sent_the_domain() -> set[str]:
    return {
        name
        for entry in DOMAIN["actions"]
        if isinstance(entry, dict)
        for name, config in entry.items()
        if (config or {}).get("send_domain")
    }


def _reads_the_domain(action: type[Action]) -> bool:
    body = inspect.getsource(action.run).split(") -> ", 1)[1]  # what follows the signature
    return re.search(r"\bdomain\b", body) is not None


def _our_actions() -> dict[str, type[Action]]:
    executor = ActionExecutor()
    executor.register_package("actions")
    return {name: type(run.__self__) for name, run in executor.actions.items()}


def test_the_selective_domain_is_on():
    endpoints = yaml.safe_load((PROJECT_ROOT / "endpoints.yml").read_text(encoding="utf-8"))
    assert endpoints["action_endpoint"]["enable_selective_domain"] is True


def test_exactly_the_actions_that_read_the_domain_are_sent_it():
    actions = _our_actions()
    readers = {name for name, action in actions.items() if _reads_the_domain(action)}
    assert readers == {"action_record_consent", "action_lead_back"}  # the check sees them
    assert _sent_the_domain() == readers
