"""`python -m bot.console`: serve the officer console with waitress (no migrations here)."""

from __future__ import annotations

import contextlib
import logging
import sys

from bot.console import create_app
from bot.db import default_database
from bot.metrics import with_metrics
from bot.runner import port_in_use
from bot.settings import SettingsError, get_settings


def main() -> int:
    """Serve the console on CONSOLE_HOST:CONSOLE_PORT until interrupted."""
    from waitress import serve

    try:
        settings = get_settings()
    except SettingsError as exc:
        print(f"Setting error: {exc}", file=sys.stderr)
        return 2
    host, port = settings.console_host, settings.console_port
    if port_in_use(host, port):
        print(
            f"Port {port} is in use (is `make run` going? it serves the console): stop it"
            " first, or set CONSOLE_PORT.",
            file=sys.stderr,
        )
        return 1
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    app = create_app(settings, default_database())
    shown = f"[{host}]" if ":" in host else host
    print(f"Officer console listening on http://{shown}:{port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it stops
        # /metrics beside the app, for Prometheus (never through the proxy: bot/metrics.py).
        serve(with_metrics(app), host=host, port=port, threads=8, ident="engage-console")
    return 0


if __name__ == "__main__":
    sys.exit(main())
