"""Benchmark: a conversation turn through our stack against bare Rasa with the same model.

Starts, each on free ports and fresh SQLite files in a temporary directory:
- ours: `engage run` (the gateway with its inbox worker, Rasa with the inbox channel, the
  action server, the scheduler, the notifier and the console), the resident's messages
  through the REST channel on the gateway, as `bench/conversation.py` sends them;
- bare-sql: `rasa run`, the same model, Rasa's REST channel, Rasa's SQL tracker store on
  SQLite, no action server (our custom actions fail fast and Rasa carries on);
- bare-mem: the same with Rasa's in-memory tracker store.
All three are started first, then measured so that a busy neighbour on the shared cores
weighs on each of them alike. Each measurement: the 5-turn first conversation (greeting,
consent, a view, done, area), first R1 residents one at a time (the stacks taking turns
resident by resident), then R residents C at a time on each stack in turn, the others
idle (each resident's turns in order). A round measures every stack at both
concurrencies; with --rounds N the rounds are repeated (every other one with the stacks
in the reverse order) and the summary counts them all.

Usage: .venv/bin/python bench/turns.py [--model models/engage.tar.gz] [--residents-1 20]
       [--residents 100] [--concurrency 16] [--rounds 1] [--stacks ours,bare-sql,bare-mem]
       [--ours-from OTHER_CHECKOUT ...] [--servers 2] [--keep]
--servers N also measures our stack with N Rasa servers behind nginx (deploy/nginx.conf's
private listener; `engage run` starts the first, `engage serve rasa` the others), against
the one-server `ours` in the same rounds, and prints the scaling factor.
--ours-from measures `engage run` from another checkout as well (e.g. one without a
change), in the same rounds: what a change gives, on equal terms. Each measurement also
reports the CPU milliseconds a turn took in each process (from /proc), which is where
the time goes.
Last line (at concurrency C; bare is the same-tracker-store baseline, bare-sql):
`turns: ours=<turns/s> bare=<turns/s> ratio=<ours/bare> p95_ours_ms=<n> p95_bare_ms=<n>`
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.nginx import NGINX, SITE, command, main_conf, with_upstream  # noqa: E402

TURNS = ["hi", "yes", "the buses stop at 6 so i cant get home from my shift", "done", "LS6"]
STACKS = ("ours", "bare-sql", "bare-mem")
START_TIMEOUT_S = 600  # several Rasa servers loading their model at once on 2 cores
QUIET = "ignore::DeprecationWarning,ignore::PendingDeprecationWarning"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


Run = tuple[float, list[float], int]  # elapsed s, latencies, errors


@dataclass
class Stack:
    """One server under test: its process, where residents post, and what it answered."""

    name: str
    process: subprocess.Popen
    url: str
    log: Path
    ready: str  # a GET that answers 200 once it serves (ours: a line in the log instead)
    token: str = ""
    needs_replies: bool = True  # bare Rasa answers nothing where our actions would
    helpers: list[subprocess.Popen] = field(default_factory=list)  # nginx, more Rasa servers
    also_ready: list[str] = field(default_factory=list)  # their health checks
    results: dict[int, list[Run]] = field(
        default_factory=lambda: defaultdict(list)
    )  # concurrency -> [(elapsed, latencies, errors)] per round
    cpu: dict[int, list[dict[str, float]]] = field(
        default_factory=lambda: defaultdict(list)
    )  # concurrency -> [CPU seconds by role] per round

    def record(
        self, concurrency: int, run: Run, before: dict[str, float], after: dict[str, float]
    ) -> None:
        """Keep one measurement and the CPU its processes used meanwhile."""
        self.results[concurrency].append(run)
        self.cpu[concurrency].append({role: after[role] - before.get(role, 0.0) for role in after})


def _start_ours(
    workdir: Path, model: Path, root: Path = ROOT, name: str = "ours", servers: int = 0
) -> Stack:
    """`engage run` (from the checkout `root`) with its own databases, ports and model.

    With `servers`, the gateway reaches that many Rasa servers through nginx.
    """
    models = workdir / "models"
    models.mkdir(parents=True)
    (models / model.name).symlink_to(model)
    token = secrets.token_urlsafe(24)
    gateway_port = _free_port()
    rasa_ports = [_free_port() for _ in range(max(servers, 1))]
    env = dict(
        os.environ,
        DATABASE_URL=f"sqlite:///{workdir / 'engage.db'}",
        TRACKER_DATABASE_URL=f"sqlite:///{workdir / 'tracker.db'}",
        RASA_PORT=str(rasa_ports[0]),
        ACTION_PORT=str(_free_port()),
        GATEWAY_PORT=str(gateway_port),
        CONSOLE_PORT=str(_free_port()),
        ENGAGE_VAR_DIR=str(workdir),
        MODEL_DIR=str(models),
        REST_API_TOKEN=token,  # the REST channel needs it once a token is set
        RASA_API_TOKEN=secrets.token_urlsafe(32),  # the same for every Rasa server
        RASA_TELEMETRY_ENABLED="false",
    )
    env.pop("REDIS_URL", None)  # the embedded default: in-memory lock stores, SQLite slots
    helpers: list[subprocess.Popen] = []
    if servers:
        nginx_port = _free_port()
        env["RASA_URL"] = f"http://127.0.0.1:{nginx_port}"
        nginx = _nginx_for_rasa(workdir, nginx_port, rasa_ports)
        helpers.append(_spawn(nginx, workdir / "nginx.out", root, env))
        for port in rasa_ports[1:]:
            command = [sys.executable, "-m", "bot.cli", "serve", "rasa"]
            log = workdir / f"rasa-{port}.log"
            helpers.append(_spawn(command, log, root, {**env, "RASA_PORT": str(port)}))
    log = workdir / "stack.log"
    process = _spawn([sys.executable, "-m", "bot.cli", "run"], log, root, env)
    return Stack(
        name,
        process,
        f"http://127.0.0.1:{gateway_port}/webhooks/rest/webhook",
        log,
        ready="",
        token=token,
        helpers=helpers,
        also_ready=[f"http://127.0.0.1:{port}/webhooks/inbox/" for port in rasa_ports[1:]],
    )


def _spawn(command: list[str], log: Path, cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    """A process of a stack, in its own session, its output in `log`."""
    return subprocess.Popen(
        command, cwd=cwd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def _nginx_for_rasa(workdir: Path, port: int, rasa_ports: list[int]) -> list[str]:
    """deploy/nginx.conf's private Rasa listener (only it) on `port`, over `rasa_ports`."""
    site = with_upstream(SITE.read_text(), "engage_rasa", [f"127.0.0.1:{p}" for p in rasa_ports])
    upstream = re.search(r"upstream engage_rasa \{.*?\n\}", site, re.S)
    listener = re.search(r"\nserver \{\n    listen 127\.0\.0\.1:5080;.*?\n\}", site, re.S)
    if upstream is None or listener is None:
        raise SystemExit("deploy/nginx.conf has no engage_rasa upstream or 5080 listener")
    server = listener.group(0).replace("listen 127.0.0.1:5080;", f"listen 127.0.0.1:{port};")
    server = server.replace("/var/log/nginx/engage.access.log", str(workdir / "nginx-access.log"))
    log_format = (
        "    log_format engage '$remote_addr \"$request\" $status upstream=$upstream_addr';"
    )
    return command(workdir, main_conf(workdir, f"{log_format}\n{upstream.group(0)}\n{server}"))


def _start_scaled(workdir: Path, model: Path, servers: int) -> Stack:
    """`engage run` with its inbox worker on nginx, and `servers` Rasa servers behind it.

    `engage run` starts the first Rasa server; the others are `engage serve rasa` on
    their own ports. Without REDIS_URL each Rasa server has its own in-memory lock store,
    which is safe here: the inbox hands each resident's messages over one at a time.
    """
    if NGINX is None:
        raise SystemExit("--servers needs nginx (apt-get install nginx)")
    return _start_ours(workdir, model, name=f"ours-x{servers}", servers=servers)


def _start_bare(name: str, workdir: Path, model: Path) -> Stack:
    """`rasa run` with the model, the REST channel and no action server."""
    workdir.mkdir()
    endpoints = workdir / "endpoints.yml"
    if name == "bare-sql":
        endpoints.write_text(
            f"tracker_store:\n  type: SQL\n  url: sqlite:///{workdir / 'tracker.db'}\n"
        )
    else:
        endpoints.write_text("{}\n")
    credentials = workdir / "credentials.yml"
    credentials.write_text("rest:\n")
    port = _free_port()
    log = workdir / "rasa.log"
    env = dict(os.environ, RASA_TELEMETRY_ENABLED="false", PYTHONWARNINGS=QUIET)
    command = [
        sys.executable, "-m", "rasa", "run", "--model", str(model),
        "--endpoints", str(endpoints), "--credentials", str(credentials),
        "--interface", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/webhooks/rest"
    return Stack(name, process, f"{base}/webhook", log, ready=f"{base}/", needs_replies=False)


TICKS = os.sysconf("SC_CLK_TCK")
ROLES = ("rasa", "actions.server", "gateway", "scheduler", "notifier", "bot.console")
SHORT = {"actions.server": "actions", "bot.console": "console"}


def _cpu_of(stack: Stack) -> dict[str, float]:
    """CPU seconds used so far by the stack's processes, by role."""
    roles: dict[str, float] = defaultdict(float)
    for process in [stack.process, *stack.helpers]:
        for role, seconds in _cpu_by_role(process.pid).items():
            roles[role] += seconds
    return roles


def _cpu_by_role(root: int) -> dict[str, float]:
    """CPU seconds used so far by `root` and its descendants, by role (from /proc)."""
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / TICKS
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        tree.update(children)
        frontier += children
    roles: dict[str, float] = defaultdict(float)
    for pid in tree:
        try:
            args = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in args]
        role = next((r for r in ROLES if r in words), "run")
        if words and words[0].startswith("nginx"):
            role = "nginx"
        roles[SHORT.get(role, role)] += used.get(pid, 0.0)
    return roles


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _is_ready(stack: Stack) -> bool:
    if stack.ready and not _answers(stack.ready):
        return False
    if not stack.ready and b"The assistant is running" not in stack.log.read_bytes():
        return False
    return all(_answers(url) for url in stack.also_ready)


def _wait_ready(stacks: list[Stack]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    waiting = list(stacks)
    while waiting:
        for stack in list(waiting):
            if any(p.poll() is not None for p in [stack.process, *stack.helpers]):
                raise SystemExit(f"{stack.name} did not start; see {stack.log.parent}")
            if _is_ready(stack):
                waiting.remove(stack)
        if time.monotonic() > deadline:
            raise SystemExit(f"{waiting[0].name} did not start in time; see {waiting[0].log}")
        time.sleep(0.5)


def _stop(stack: Stack) -> None:
    """Stop a stack as Ctrl-C would (`engage run` stops its own processes)."""
    if stack.process.poll() is None:
        bare = stack.name.startswith("bare")
        stack.process.send_signal(signal.SIGTERM if bare else signal.SIGINT)
    for helper in stack.helpers:
        if helper.poll() is None:
            helper.send_signal(signal.SIGTERM)
    for process in [stack.process, *stack.helpers]:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _converse(stack: Stack, sender: str) -> list[float]:
    """One resident's 5 turns, each after the last was answered; their latencies."""
    latencies = []
    with requests.Session() as http:
        if stack.token:
            http.headers["Authorization"] = f"Bearer {stack.token}"
        for turn in TURNS:
            t0 = time.perf_counter()
            reply = http.post(stack.url, json={"sender": sender, "message": turn}, timeout=60)
            reply.raise_for_status()
            if stack.needs_replies and not reply.json():
                raise RuntimeError(f"no reply to {turn!r}")
            latencies.append(time.perf_counter() - t0)
    return latencies


def _one_at_a_time(stacks: list[Stack], tag: str, residents: int) -> None:
    """`residents` conversations on each stack, one at a time, the stacks taking turns.

    Resident by resident, each stack holds one conversation in turn: whatever else runs
    on the machine meanwhile weighs on every stack alike. A stack's time is the sum of its
    own conversations'; its CPU, what its processes used meanwhile (they idle while the
    others converse).
    """
    elapsed = {stack.name: 0.0 for stack in stacks}
    latencies: dict[str, list[float]] = {stack.name: [] for stack in stacks}
    errors = {stack.name: 0 for stack in stacks}
    before = {stack.name: _cpu_of(stack) for stack in stacks}
    for resident in range(residents):
        for stack in stacks:
            started = time.perf_counter()
            try:
                latencies[stack.name] += _converse(stack, f"{tag}-{resident}")
            except Exception as exc:  # counted and reported
                errors[stack.name] += 1
                if errors[stack.name] == 1:
                    print(f"  {stack.name}: first error: {exc!r}", flush=True)
            elapsed[stack.name] += time.perf_counter() - started
    for stack in stacks:
        run = (elapsed[stack.name], latencies[stack.name], errors[stack.name])
        stack.record(1, run, before[stack.name], _cpu_of(stack))
        print(_line(stack.name, 1, [run]) + f" load={_load()}", flush=True)


def _measure(stack: Stack, tag: str, residents: int, threads: int) -> Run:
    """`residents` conversations, `threads` at a time: (elapsed s, latencies, errors)."""
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(_converse, stack, f"{tag}-{r}") for r in range(residents)]
        for future in futures:
            try:
                latencies += future.result()
            except Exception as exc:  # counted and reported
                errors += 1
                if errors == 1:
                    print(f"  {stack.name}: first error: {exc!r}", flush=True)
    return time.perf_counter() - started, latencies, errors


def _figures(runs: list[Run]) -> tuple[float, float, float, int, int]:
    """turns/s, p50 ms, p95 ms, turns and errors over several runs."""
    elapsed = sum(run[0] for run in runs)
    ms = np.array([x for run in runs for x in run[1]]) * 1000
    errors = sum(run[2] for run in runs)
    if not len(ms):
        return 0.0, 0.0, 0.0, 0, errors
    p50, p95 = np.percentile(ms, 50), np.percentile(ms, 95)
    return len(ms) / elapsed, float(p50), float(p95), len(ms), errors


def _line(name: str, concurrency: int, runs: list[Run]) -> str:
    rate, p50, p95, turns, errors = _figures(runs)
    return (
        f"  {name:<8} c={concurrency:<2} turns={turns:<4} turns_per_s={rate:6.1f} "
        f"p50_ms={p50:5.0f} p95_ms={p95:5.0f} errors={errors}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the summary line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "engage.tar.gz")
    parser.add_argument("--residents-1", type=int, default=20, help="one at a time")
    parser.add_argument("--residents", type=int, default=100, help="C at a time")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--stacks", default=",".join(STACKS))
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    parser.add_argument(
        "--servers",
        type=int,
        default=0,
        help="also measure our stack with this many Rasa servers behind nginx (e.g. 2)",
    )
    parser.add_argument(
        "--ours-from",
        type=Path,
        action="append",
        default=[],
        help="also measure `engage run` from this other checkout (e.g. before a change)",
    )
    args = parser.parse_args(argv)
    model = args.model.resolve()
    if not model.is_file():
        raise SystemExit(f"No model at {model}: train one first (make train).")
    names = [name for name in args.stacks.split(",") if name]
    if any(name not in STACKS for name in names):
        raise SystemExit(f"--stacks: choose from {', '.join(STACKS)}")
    workdir = Path(tempfile.mkdtemp(prefix="bench-turns-"))
    stacks: list[Stack] = []
    try:
        for name in names:
            if name == "ours":
                stacks.append(_start_ours(workdir / name, model))
            else:
                stacks.append(_start_bare(name, workdir / name, model))
        if args.servers:
            stacks.append(_start_scaled(workdir / "scaled", model, args.servers))
        for n, other in enumerate(args.ours_from):
            name = f"ours@{other.resolve().name}"
            stacks.append(_start_ours(workdir / f"other{n}", model, other.resolve(), name))
        _wait_ready(stacks)
        print(f"turns: started {', '.join(names)} (load average {_load()})", flush=True)
        for stack in stacks:  # warm-up: first calls load lazily (TensorFlow, engines...)
            for n in range(2):
                _converse(stack, f"warm-{n}")
        levels = [(1, args.residents_1), (args.concurrency, args.residents)]
        levels = [(c, r) for c, r in dict(levels).items() if r > 0]
        for round_ in range(args.rounds):
            for concurrency, residents in levels:
                tag = f"r{round_}-c{concurrency}"
                # Every other round in the reverse order: neither goes first every time.
                ordered = stacks if round_ % 2 == 0 else stacks[::-1]
                if concurrency == 1:
                    _one_at_a_time(ordered, tag, residents)
                    continue
                for stack in ordered:
                    before = _cpu_of(stack)
                    run = _measure(stack, tag, residents, concurrency)
                    stack.record(concurrency, run, before, _cpu_of(stack))
                    print(_line(stack.name, concurrency, [run]) + f" load={_load()}", flush=True)
    finally:
        for stack in reversed(stacks):
            _stop(stack)
        if args.keep:
            print(f"turns: kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"turns: all rounds ({args.rounds}), machine {os.cpu_count()} cores")
    by_name = {stack.name: stack for stack in stacks}
    for concurrency, _ in levels:
        for stack in stacks:
            print(_line(stack.name, concurrency, stack.results[concurrency]))
            print("           CPU ms a turn: " + _cpu_line(stack, concurrency))
        if "bare-sql" in by_name:
            bare = _figures(by_name["bare-sql"].results[concurrency])[0]
            for stack in stacks:
                if stack.name.startswith("ours"):
                    ours = _figures(stack.results[concurrency])[0]
                    print(f"  ratio {stack.name}/bare-sql at c={concurrency}: {ours / bare:.2f}")
    scaled = by_name.get(f"ours-x{args.servers}")
    if scaled is not None and "ours" in by_name:
        for concurrency, _ in levels:
            one = _figures(by_name["ours"].results[concurrency])[0]
            several = _figures(scaled.results[concurrency])[0]
            print(
                f"turns: servers={args.servers} c={concurrency} one={one:.1f} "
                f"several={several:.1f} scaling={several / one:.2f}"
            )
    if "ours" not in by_name or "bare-sql" not in by_name or args.concurrency not in dict(levels):
        return 0
    ours_rate, _, ours_p95, _, ours_errors = _figures(by_name["ours"].results[args.concurrency])
    bare_rate, _, bare_p95, _, _ = _figures(by_name["bare-sql"].results[args.concurrency])
    print(
        f"turns: ours={ours_rate:.1f} bare={bare_rate:.1f} ratio={ours_rate / bare_rate:.2f} "
        f"p95_ours_ms={ours_p95:.0f} p95_bare_ms={bare_p95:.0f}"
    )
    return 1 if ours_errors else 0


def _cpu_line(stack: Stack, concurrency: int) -> str:
    """CPU milliseconds a turn, by process, over the rounds at `concurrency`."""
    turns = sum(len(run[1]) for run in stack.results[concurrency]) or 1
    totals: dict[str, float] = defaultdict(float)
    for used in stack.cpu[concurrency]:
        for role, seconds in used.items():
            totals[role] += seconds
    parts = [f"{role}={1000 * s / turns:.1f}" for role, s in sorted(totals.items()) if s > 0]
    return " ".join(parts) + f" total={1000 * sum(totals.values()) / turns:.1f}"


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


if __name__ == "__main__":
    sys.exit(main())
