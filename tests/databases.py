"""Throwaway PostgreSQL databases for tests and benchmarks: one per run, dropped after."""

from __future__ import annotations

import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def fresh_postgres_database(server_url: str, prefix: str = "engage_test") -> tuple[str, str]:
    """Create an empty database on the server; returns (its URL, its name)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", future=True)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return str(make_url(server_url).set(database=name)), name


def drop_postgres_database(server_url: str, name: str) -> None:
    """Drop a database made by `fresh_postgres_database`, even with connections open."""
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", future=True)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
