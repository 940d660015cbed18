"""Free TCP ports for the servers tests start."""

from __future__ import annotations

import socket

_handed_out: set[int] = set()


def free_port() -> int:
    """A port nobody listens on now and that no test of this run was given before.

    A port is free once its probe socket closes, so two calls could otherwise return the
    same port before the first caller's server binds it (the console and Rasa did, once).
    """
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def free_ports(count: int) -> list[int]:
    """`count` different free ports."""
    return [free_port() for _ in range(count)]
