"""Benchmark: the analysts' views export against a plain dump by the database's own tool.

Makes ROWS views (default 1,000,000) from ROWS/20 residents in a fresh SQLite file under
a temporary directory and, when TEST_DATABASE_URL names a PostgreSQL server, in a new
database on it as well (`bench_export_<random>`, dropped afterwards; no other database
is touched). The rows are written with SQLAlchemy Core in batches: varied, realistic text
(some with phone numbers, emails, web addresses, full postcodes, "12 Fern Street"
addresses, emoji, Welsh letters such as ŵ and ŷ, a few that start like a spreadsheet
formula), a theme from the catalogue with its `view_themes` row (rank 0), a district such
as LS6, SMS or Telegram, and a time spread over a year. Each view's redacted text and
redaction version are stored with it, as the application stores them (`View.text_redacted`);
with --unredacted they are left empty, as in rows written before migration 0012, and the
export redacts every view itself.

Then, per database, it times:
- plain: the same rows, with the resident id, the themes and the update joined as the
  export joins them, dumped to CSV by `sqlite3 -csv` or `psql -c "\\copy (...) to ... csv"`;
- ours: `bot.exports.export_views` to CSV (pseudonyms and redaction on, audited), in a
  child process (this script with --child) so that its peak RSS is its own; only the
  export's transaction is timed, not the interpreter's start.
Goals (docs/BENCHMARKS.md): the export takes at most 3x the plain dump's time, and its
peak RSS stays under 300 MB whatever the row count.

Usage: .venv/bin/python bench/export.py [ROWS] [--keep] [--unredacted]
       TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python \\
           bench/export.py [ROWS]
One line per database, e.g.
`sqlite: rows=<n> ours_s=<x> plain_s=<x> ratio=<x> peak_rss_mb=<n> ours_rows_s=<n> ...`;
last line (the database with the highest ratio, the highest RSS of all):
`export: rows=<n> ours_s=<x> plain_s=<x> ratio=<x> peak_rss_mb=<n>`
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bot.db import Database  # noqa: E402
from bot.models import Resident, View, ViewTheme, redacted_columns  # noqa: E402
from bot.themes import theme_keys  # noqa: E402
from tests.databases import drop_postgres_database, fresh_postgres_database  # noqa: E402
from tests.residents import VIEWS  # noqa: E402

RESIDENTS_PER = 20  # views per resident, on average
BATCH = 20_000  # rows per executemany
KEY = "bench-export-pseudonym-key"
RATIO_GOAL = 3.0
RSS_GOAL_MB = 300
START = datetime(2025, 12, 1, tzinfo=timezone.utc)
YEAR_S = 365 * 24 * 3600
AREAS = [f"LS{n}" for n in range(1, 30)] + ["BD1", "BD7", "HX1", "WF1", "CF10", "LL55"]
OPENINGS = [
    *VIEWS,
    "Bins weren't collected AGAIN this week, third time since October",
    "waited 3 weeks for a dentist appointment and they cancelled",
    "the 42 is always late and the shelter has no roof",
    "Fly-tipping behind the shops is getting worse, mattresses, fridges, the lot",
    "we need more youth clubs, the old one shut in 2019",
    "potholes on the hill are wrecking cars and bikes",
    "the food bank ran out of nappies on Tuesday",
    "heating bills doubled and the landlord won't fix the windows",
    "mae angen mwy o fysiau yn y pentref",
    "Dŵr yn dod trwy'r to ers mis Medi, tŷ yn oer",
    "there's no step-free access at the station so I can't get to work in my chair",
    "drug dealing in the alley every night, we're scared to go out",
]
FOLLOW_UPS = [
    "nobody ever gets back to us",
    "it's been like this for months",
    "please sort it before winter",
    "my kids can't play outside",
    "the council said they would look into it in the summer",
    "I've reported it 4 times online",
    "it costs me £12 a week in taxis",
    "my mum is 84 and can't manage the stairs",
    "thanks for asking though",
    "same as everyone on our street tbh",
    "diolch yn fawr, ŵyr a ŷd",
    "honestly what's the point",
]
EMOJI = ["🙂", "😡", "🚌", "🗑️", "👍", "😢", "🏠", "💷"]
STREETS = ["Fern Street", "Mill Lane", "Oak Road", "Cardigan Avenue", "Harehills Lane",
           "Woodhouse Lane", "Victoria Terrace", "Brudenell Grove", "Bryn Road"]  # fmt: skip
INWARD = ["3AB", "1NU", "2JT", "4QX", "7DD", "9PL", "5HW", "6EF"]


def _personal(rng: random.Random, area: str) -> str:
    """One personal detail of the kinds redaction looks for."""
    pick = rng.randrange(6)
    if pick == 0:
        number = f"07{rng.randrange(100, 999)}{rng.randrange(100000, 999999)}"
        spelt = rng.choice(
            [number, f"{number[:5]} {number[5:]}", f"+44 {number[1:5]} {number[5:8]} {number[8:]}"]
        )
        return f"call me on {spelt}"
    if pick == 1:
        return f"ring the office on (0113) {rng.randrange(100, 999)}-{rng.randrange(1000, 9999)}"
    if pick == 2:
        name = rng.choice(["jo.bloggs", "ann_h", "dave+council", "mrs.jones72"])
        return f"email me at {name}@{rng.choice(['gmail.com', 'example.co.uk', 'btinternet.com'])}"
    if pick == 3:
        return f"I'm at {area} {rng.choice(INWARD)}"
    if pick == 4:
        flat = f"flat {rng.randrange(1, 20)}, " if rng.random() < 0.3 else ""
        return f"outside {flat}{rng.randrange(1, 300)} {rng.choice(STREETS)}"
    return f"see www.leeds-{rng.randrange(100)}.example/report?id={rng.randrange(10**6)}"


def view_text(rng: random.Random, area: str) -> str:
    """A resident's view: one to four clauses, sometimes with personal details or emoji."""
    parts = [rng.choice(OPENINGS)]
    parts += rng.sample(FOLLOW_UPS, rng.randrange(0, 3))
    if rng.random() < 0.3:
        parts.insert(rng.randrange(1, len(parts) + 1), _personal(rng, area))
    said = ", ".join(parts)
    if rng.random() < 0.1:
        said += " " + rng.choice(EMOJI)
    if rng.random() < 0.01:
        said = rng.choice(["=", "-", "+", "@"]) + said  # a spreadsheet would run it
    return said


def _batches(items: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for item in items:
        batch.append(item)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def generate(database: Database, rows: int, redacted: bool = True) -> None:
    """`rows` views from rows/20 residents, with their view_themes rows (Core, batched);
    `redacted`: with each view's redacted text stored, as the application stores it."""
    rng = random.Random(20261201)
    themes = theme_keys()
    count = max(rows // RESIDENTS_PER, 1)
    areas = [rng.choice(AREAS) for _ in range(count)]
    conversations = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(count)]
    postgres = database.engine.dialect.name == "postgresql"

    def residents() -> Iterator[dict[str, Any]]:
        for i in range(count):
            yield {
                "id": i + 1,
                "conversation_id": conversations[i],
                "created_at": START,
                "consent": "given",
                "contact_ok": True,
                "area": areas[i],
                "rhythm": "monthly",
            }

    def views() -> Iterator[dict[str, Any]]:
        step = YEAR_S / rows
        for i in range(rows):
            resident = rng.randrange(count)
            area = areas[resident]
            said = view_text(rng, area)
            yield {
                "id": i + 1,
                "resident_id": resident + 1,
                "text": said,
                **(
                    redacted_columns(said)
                    if redacted
                    else {"text_redacted": None, "redaction_version": None}
                ),
                "theme_key": themes[i % len(themes)],
                "confidence": round(rng.uniform(0.3, 0.99), 3),
                "theme_source": "resident" if rng.random() < 0.1 else "model",
                "channel": "sms" if rng.random() < 0.6 else "telegram",
                "area": area if rng.random() < 0.9 else None,
                "conversation_id": conversations[resident],
                "question_id": None,
                "rating": None,
                "inbox_id": None,
                "created_at": START + timedelta(seconds=i * step + rng.uniform(0, step)),
            }

    def view_themes() -> Iterator[dict[str, Any]]:
        for i in range(rows):
            yield {
                "id": i + 1,
                "view_id": i + 1,
                "theme_key": themes[i % len(themes)],
                "confidence": 0.8,
                "rank": 0,
            }

    with database.engine.begin() as conn:
        if not postgres:
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
        for table, items in (
            (Resident.__table__, residents()),
            (View.__table__, views()),
            (ViewTheme.__table__, view_themes()),
        ):
            for batch in _batches(items):
                conn.execute(table.insert(), batch)
        if postgres:  # ids were given: move the sequences on
            for table in ("residents", "views", "view_themes"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
    # Statistics and a checkpointed file, as a database in use for a while would have.
    if postgres:
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with database.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        with database.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def plain_query(dialect: str) -> str:
    """The export's rows and joins without pseudonyms, labels or redaction (one line)."""
    themes = (
        "(SELECT group_concat(t.theme_key, ';') FROM view_themes t WHERE t.view_id = v.id)"
        if dialect == "sqlite"
        else "(SELECT string_agg(t.theme_key, ';' ORDER BY t.rank) FROM view_themes t "
        "WHERE t.view_id = v.id)"
    )
    return (
        f"SELECT v.resident_id, v.theme_key, {themes} AS themes, v.confidence, "
        "v.theme_source, v.area, v.channel, v.question_id, v.rating, r.update_id, "
        "v.created_at, v.text FROM views v LEFT JOIN update_reactions r ON r.view_id = v.id "
        "ORDER BY v.id"
    )


def plain_dump(url: str, out: Path) -> float:
    """Seconds for the database's own tool to write the rows to CSV at `out`.

    Run twice, the faster counted: the first run warms the caches for both exports.
    """
    parsed = make_url(url)
    environment = dict(os.environ)
    if parsed.get_backend_name() == "sqlite":
        command = ["sqlite3", "-csv", "-header", str(parsed.database), plain_query("sqlite")]
    else:
        if parsed.password:  # not on the command line
            environment["PGPASSWORD"] = str(parsed.password)
        server = parsed.set(drivername="postgresql", password=None).render_as_string()
        copy = f"\\copy ({plain_query('postgresql')}) to '{out}' csv header"
        command = ["psql", "-q", "-X", "-v", "ON_ERROR_STOP=1", server, "-c", copy]
    times = []
    for _ in range(2):
        started = time.perf_counter()
        if parsed.get_backend_name() == "sqlite":
            with out.open("wb") as handle:
                subprocess.run(command, stdout=handle, check=True)
        else:
            subprocess.run(command, env=environment, check=True)
        times.append(time.perf_counter() - started)
    return min(times)


@dataclass
class Result:
    """One database's figures."""

    name: str
    rows: int
    ours_s: float
    plain_s: float
    peak_rss_mb: float
    rss_before_mb: float
    ours_bytes: int
    plain_bytes: int

    @property
    def ratio(self) -> float:
        return self.ours_s / self.plain_s

    def line(self) -> str:
        return (
            f"{self.name}: rows={self.rows} ours_s={self.ours_s:.2f} plain_s={self.plain_s:.2f} "
            f"ratio={self.ratio:.2f} peak_rss_mb={self.peak_rss_mb:.0f} "
            f"ours_rows_s={self.rows / self.ours_s:.0f} "
            f"plain_rows_s={self.rows / self.plain_s:.0f} "
            f"rss_after_imports_mb={self.rss_before_mb:.0f} "
            f"ours_mb={self.ours_bytes / 1e6:.0f} plain_mb={self.plain_bytes / 1e6:.0f}"
        )


def peak_rss_kb() -> int:
    """This process's peak resident memory in kB, since it started this program.

    VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over from the parent through
    fork and exec, so a child of a big parent would report the parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux


def child(url: str, path: Path) -> int:
    """In the child: run the export once, print its seconds, rows and peak RSS as JSON."""
    from bot.exports import ExportFilter, export_views

    database = Database(url)
    database.engine  # noqa: B018 - loads the driver before the baseline is taken
    rss_before = peak_rss_kb()
    started = time.perf_counter()
    with database.transaction() as session:
        count = export_views(session, path, "csv", ExportFilter(), KEY, "bench")
    seconds = time.perf_counter() - started
    database.dispose()
    peak = peak_rss_kb()
    print(json.dumps({"rows": count, "seconds": seconds, "rss_before_kb": rss_before,
                      "peak_kb": peak}))  # fmt: skip
    return 0


def ours(url: str, out: Path) -> dict[str, Any]:
    """The export in a child process: what it printed (rows, seconds, RSS in kB)."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", url, str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise RuntimeError(f"the export failed (exit code {done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(name: str, url: str, rows: int, workdir: Path, redacted: bool = True) -> Result:
    """Make the database's rows, then time the plain dump and the export."""
    from bot.migrate import upgrade  # here: Alembic's 10 MB stay out of the export's child

    upgrade(url)
    database = Database(url)
    try:
        started = time.perf_counter()
        generate(database, rows, redacted)
        print(f"{name}: {rows} views generated in {time.perf_counter() - started:.1f} s",
              flush=True)  # fmt: skip
    finally:
        database.dispose()
    plain_out = workdir / f"plain-{name}.csv"
    ours_out = workdir / f"ours-{name}.csv"
    plain_s = plain_dump(url, plain_out)
    got = ours(url, ours_out)
    if got["rows"] != rows:
        raise RuntimeError(f"the export wrote {got['rows']} rows, not {rows}")
    return Result(
        name=name,
        rows=rows,
        ours_s=got["seconds"],
        plain_s=plain_s,
        peak_rss_mb=got["peak_kb"] / 1024,
        rss_before_mb=got["rss_before_kb"] / 1024,
        ours_bytes=ours_out.stat().st_size,
        plain_bytes=plain_out.stat().st_size,
    )


def machine() -> str:
    """Cores, CPU model, memory and the load now (other work competes for the cores)."""
    model = "unknown CPU"
    memory_kb = 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    except OSError:
        pass
    return (
        f"{len(os.sched_getaffinity(0))} cores, {model}, {memory_kb / 2**20:.1f} GiB RAM, "
        f"load average {os.getloadavg()[0]:.2f}"
    )


def main() -> int:
    """Measure on SQLite (and PostgreSQL if TEST_DATABASE_URL is set); 1 if a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("rows", nargs="?", type=int, default=1_000_000, help="views to make")
    parser.add_argument("--keep", action="store_true", help="keep the databases and files")
    parser.add_argument(
        "--unredacted", action="store_true",
        help="store no redacted text with the views (as before migration 0012)",
    )  # fmt: skip
    parser.add_argument("--child", nargs=2, metavar=("URL", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], Path(args.child[1]))
    if args.rows < 1:
        raise SystemExit("ROWS must be at least 1")
    server = os.environ.get("TEST_DATABASE_URL", "").strip()
    print(f"machine: {machine()}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="engage-export-"))
    results: list[Result] = []
    try:
        sqlite_url = f"sqlite:///{workdir / 'engage.db'}"
        results.append(measure("sqlite", sqlite_url, args.rows, workdir, not args.unredacted))
        print(results[-1].line(), flush=True)
        if not args.keep:
            for leftover in workdir.iterdir():  # room for the next database's files
                leftover.unlink()
        if server:
            url, name = fresh_postgres_database(server, prefix="bench_export")
            try:
                results.append(measure("postgresql", url, args.rows, workdir, not args.unredacted))
            finally:
                if not args.keep:
                    drop_postgres_database(server, name)
                else:
                    print(f"PostgreSQL database {name} kept", file=sys.stderr)
            print(results[-1].line(), flush=True)
    finally:
        if args.keep:
            print(f"files kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    worst = max(results, key=lambda r: r.ratio)
    peak = max(r.peak_rss_mb for r in results)
    met = all(r.ratio <= RATIO_GOAL for r in results) and peak < RSS_GOAL_MB
    print(f"goals (ratio <= {RATIO_GOAL:g}, peak RSS < {RSS_GOAL_MB} MB): "
          f"{'met' if met else 'missed'}")  # fmt: skip
    print(
        f"export: rows={worst.rows} ours_s={worst.ours_s:.2f} plain_s={worst.plain_s:.2f} "
        f"ratio={worst.ratio:.2f} peak_rss_mb={peak:.0f}"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
