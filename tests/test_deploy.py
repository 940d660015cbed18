"""deploy/: the Procfile, the systemd units and nginx's site file say what `engage run` does."""

from __future__ import annotations

import re
import subprocess
from configparser import ConfigParser
from pathlib import Path
from unittest.mock import Mock

import pytest

from bot.runner import PROCESSES, process_command, stop_signal
from bot.settings import PROJECT_ROOT, Settings
from tests.nginx import NGINX, command, main_conf

DEPLOY = PROJECT_ROOT / "deploy"


def procfile() -> list[tuple[str, str]]:
    lines = (DEPLOY / "Procfile").read_text().splitlines()
    return [tuple(line.split(": ", 1)) for line in lines if line and not line.startswith("#")]  # type: ignore[misc]


def unit(name: str) -> ConfigParser:
    parser = ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / "systemd" / f"engage-{name}.service")
    return parser


def test_the_procfile_has_one_line_per_process_make_run_starts_in_its_order():
    assert procfile() == [(name, f".venv/bin/engage serve {name}") for name in PROCESSES]


@pytest.mark.parametrize("name", PROCESSES)
def test_each_process_has_a_systemd_unit_stopped_as_engage_run_stops_it(name):
    service = unit(name)["Service"]
    assert service["ExecStart"] == f"/opt/engage/.venv/bin/engage serve {name}"
    assert service["EnvironmentFile"] == "/etc/engage/engage.env"
    assert service["Restart"] == "on-failure"
    model = PROJECT_ROOT / "models" / "m.tar.gz"
    process = Mock(args=process_command(name, Settings.from_env({}), model))
    assert service["KillSignal"] == stop_signal(process).name
    assert unit(name)["Install"]["WantedBy"] == "engage.target"
    assert (DEPLOY / "systemd" / "engage.target").exists()


def public_locations(site: str) -> dict[str, str]:
    """The webhook server's locations and what each does."""
    server = site.split("server_name engage.council.example;", 1)[1].split("\nserver {", 1)[0]
    return {
        match.group(1): match.group(2).strip()
        for match in re.finditer(r"location ([^{]+?)\s*\{([^}]*)\}", server)
    }


def test_nginx_forwards_only_the_webhooks_to_the_gateways():
    site = (DEPLOY / "nginx.conf").read_text()
    locations = public_locations(site)
    proxied = {path for path, body in locations.items() if "proxy_pass" in body}
    assert proxied == {
        "= /webhooks/sms/webhook",
        "= /webhooks/sms/status",
        "= /webhooks/telegram/webhook",
        "= /webhooks/rest/webhook",
    }
    for path in proxied:
        assert locations[path] == "proxy_pass http://engage_gateways;", path
    assert locations["/"] == "return 404;"
    # The private listener gives Rasa's inbox channel only, and only to our servers.
    private = site.split("# Private:")[-1]
    assert "location /webhooks/inbox/" in private and "deny all;" in private


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx)")
def test_nginx_accepts_the_site_file(tmp_path):
    from tests.e2e.test_scale_out import _certificate, render_nginx

    site = tmp_path / "site.conf"
    site.write_text(
        render_nginx(
            (DEPLOY / "nginx.conf").read_text(),
            {"engage_gateways": ["127.0.0.1:1", "127.0.0.1:2"], "engage_rasa": ["127.0.0.1:3"]},
            {"http": 8080, "https": 8443, "rasa": 8081},
            _certificate(tmp_path),
            tmp_path / "tls.key",
            tmp_path / "access.log",
        )
    )
    main = main_conf(tmp_path, f"    include {site};")
    checked = subprocess.run([*command(tmp_path, main), "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_deploy_docs_name_every_alert_and_health_check():
    text = Path(PROJECT_ROOT / "docs" / "DEPLOY.md").read_text()
    for words in ("engage_inbox_oldest_age_seconds", "engage_provider_errors_total",
                  "engage_checkins_total", "/healthz", "REDIS_URL", "PUBLIC_BASE_URL"):  # fmt: skip
        assert words in text, words
