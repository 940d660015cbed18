"""Several servers on PostgreSQL and Redis behind nginx, as docs/DEPLOY.md has them run.

nginx (Debian's package, with the repository's deploy/nginx.conf) in front of two
servers, each a gateway, a Rasa server and an action server, all on one PostgreSQL
database, with Rasa's lock store and the send rate limit in Redis. One resident's ten
messages in quick succession alternate between the gateways and are processed once each,
in order, while one Rasa server is killed mid-run (nginx moves its turns to the other).
Then two notifiers and two schedulers run at once: nobody is told twice, and the rate
limit holds for the sum of them.

Runs when TEST_DATABASE_URL and REDIS_URL are set (.ci/run sets both) and nginx is
installed (.ci/run installs it); otherwise it is skipped, saying which is missing.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path
from urllib.parse import urlencode

import pytest
import redis
import requests
from sqlalchemy import select, text
from twilio.request_validator import RequestValidator

from bot.models import Checkin, InboxMessage, OutboxMessage, Resident, SendSlot, View
from bot.runner import server_environment
from bot.services.consent import record_consent
from bot.services.identities import conversation_for, resident_at
from bot.services.updates import UpdateDraft, draft_update, publish
from bot.services.views import store_view
from bot.settings import PROJECT_ROOT, Settings
from tests.channels.conftest import PUBLIC_BASE_URL
from tests.conftest import POSTGRES_URL, REDIS_URL
from tests.databases import drop_postgres_database, fresh_postgres_database
from tests.e2e.conftest import TWILIO_AUTH_TOKEN, channel_env
from tests.e2e.services import Services
from tests.e2e.test_channels import new_number, payload
from tests.nginx import NGINX, command, main_conf, with_upstream
from tests.ports import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


CONSOLE_HOST = "console.example.org"
PUBLIC_HOST = PUBLIC_BASE_URL.split("://", 1)[1]
SMS_PER_SECOND = 20
TICKET_LOCK_LIFETIME_S = 6  # how long a Rasa killed mid-turn keeps the conversation locked
# Ten views on different themes, each clear enough to be noted at once.
VIEWS = [
    "the buses stop at 6 so i cant get home from my shift",
    "the bins in my street are never emptied on time",
    "there is mould in every room of my council flat",
    "people are dealing drugs openly outside the shops",
    "i waited three weeks for a gp appointment",
    "the park is full of litter and broken glass",
    "there is nothing for teenagers to do round here",
    "my energy bills have doubled and i cant afford food",
    "the river stinks of sewage every summer",
    "the library opening hours were cut again",
]
# More than two claims of the first notifier (2 x 2 s x the rate, bot/notifier.py) can
# take before the second one's next look at the outbox (within 2 s): both must send.
UPDATE_RESIDENTS = 100
CHECKIN_RESIDENTS = 10


def _missing() -> list[str]:
    missing = []
    if not POSTGRES_URL:
        missing.append("TEST_DATABASE_URL (PostgreSQL)")
    if not REDIS_URL:
        missing.append("REDIS_URL (Redis)")
    if NGINX is None:
        missing.append("nginx (apt-get install nginx)")
    return missing


@dataclass
class Process:
    """One of our processes, started with `engage serve NAME` (as deploy/ runs them)."""

    name: str
    env: dict[str, str]
    log: Path
    ready_url: str = ""
    popen: subprocess.Popen | None = None

    def start(self) -> Process:
        """Start it (it becomes the server: `engage serve` execs)."""
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "serve", self.name],
                cwd=PROJECT_ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        return self

    def stop(self) -> None:
        """Stop it as systemd would (deploy/systemd: SIGINT for ours), then kill."""
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGINT)
        try:
            self.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


@dataclass
class Cluster:
    """Everything of the scale-out set-up, on this machine's loopback."""

    workdir: Path
    database_url: str
    env: dict[str, str]
    servers: dict[str, Services] = field(default_factory=dict)
    workers: dict[str, Process] = field(default_factory=dict)
    nginx: subprocess.Popen | None = None
    https_port: int = 0
    rasa_port: int = 0  # nginx's private listener for Rasa's inbox channel
    cert: Path = Path()
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def database(self):  # type: ignore[no-untyped-def]
        """The shared database (server A's handle on it)."""
        return self.servers["a"].database

    def public(self, path: str) -> str:
        """A URL on nginx's public https listener."""
        return f"https://127.0.0.1:{self.https_port}{path}"

    def settle(self, timeout: float = 60) -> bool:
        """Wait until the shared inbox is empty."""
        return self.servers["a"].settle(timeout)

    def worker_env(self, port_setting: str, rasa_urls: str) -> dict[str, str]:
        """A notifier's or scheduler's environment, with its own metrics port."""
        port = free_port()
        env = {**self.env, port_setting: str(port), "RASA_URL": rasa_urls}
        env = server_environment(Settings.from_env(env), {**os.environ, **env})
        return {**env, "_PORT": str(port)}


def _certificate(workdir: Path) -> Path:
    """A self-signed certificate (and key) for 127.0.0.1 and the test's host names."""
    cert = workdir / "tls.pem"
    names = f"IP:127.0.0.1,DNS:{PUBLIC_HOST},DNS:{CONSOLE_HOST}"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", f"subjectAltName={names}",
         "-keyout", str(workdir / "tls.key"), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert


def render_nginx(
    site: str,
    upstreams: dict[str, list[str]],
    ports: dict[str, int],
    cert: Path,
    key: Path,
    access_log: Path,
) -> str:
    """deploy/nginx.conf with this machine's addresses in place of its EDIT lines."""
    for name, servers in upstreams.items():
        site = with_upstream(site, name, servers)
    site = re.sub(r"^\s*listen \[::\].*\n", "", site, flags=re.M)
    site = site.replace("listen 80 ", f"listen 127.0.0.1:{ports['http']} ")
    site = re.sub(r"listen 443 ", f"listen 127.0.0.1:{ports['https']} ", site)
    site = site.replace("listen 127.0.0.1:5080;", f"listen 127.0.0.1:{ports['rasa']};")
    site = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", site)
    site = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", site)
    site = site.replace("server_name engage.council.example;", f"server_name {PUBLIC_HOST};")
    site = site.replace("server_name console.council.example;", f"server_name {CONSOLE_HOST};")
    return site.replace("/var/log/nginx/engage.access.log", str(access_log))


def _wait(url: str, timeout: float, verify: Path | bool = True, ok=(200,)) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(url, timeout=2, verify=verify).status_code in ok:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer in {timeout} s")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, fake) -> Iterator[Cluster]:
    """Two servers, a console and nginx, on a fresh PostgreSQL database and Redis."""
    missing = _missing()
    if missing:
        reason = "scale-out test needs " + ", ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(reason + " in CI (.ci/run provides them)")
        pytest.skip(reason)
    started = time.monotonic()
    workdir = tmp_path_factory.mktemp("scale-out")
    url, dropped = fresh_postgres_database(POSTGRES_URL)
    common = {
        "DATABASE_URL": url,
        "TRACKER_DATABASE_URL": url,
        "REDIS_URL": REDIS_URL,
        "REDIS_KEY_PREFIX": "e2e" + uuid.uuid4().hex[:12],  # this run's keys only
        "RASA_API_TOKEN": "scale-out-token-0123456789",
        "DO_NOT_CONTACT_KEY": "scale-out-do-not-contact",
        "CONSOLE_SECRET_KEY": "scale-out-console-key",
        "ORG_NAME": "Leeds Listens",
        "PRIVACY_URL": "https://leeds.example/p",
        "QUIET_HOURS": "off",
        "CHECKIN_JITTER_MINUTES": "0",
        "SMS_PER_SECOND": str(SMS_PER_SECOND),
        "ACTION_TIMEOUT_S": "5",
        "TICKET_LOCK_LIFETIME": str(TICKET_LOCK_LIFETIME_S),  # Rasa's own setting
        "ENGAGE_VAR_DIR": str(workdir / "var"),
        **channel_env(fake.base_url),
    }
    ports = {"http": free_port(), "https": free_port(), "rasa": free_port()}
    cluster = Cluster(workdir, url, common, https_port=ports["https"], rasa_port=ports["rasa"])
    # Each server's gateway reaches the Rasa servers through nginx's private listener.
    for name in ("a", "b"):
        (workdir / name).mkdir()
        env = {**common, "RASA_URL": f"http://127.0.0.1:{ports['rasa']}"}
        cluster.servers[name] = Services(workdir / name, env)
    console_port = free_port()
    console_env = {**common, "CONSOLE_PORT": str(console_port)}
    console = Process(
        "console",
        server_environment(Settings.from_env(console_env), {**os.environ, **console_env}),
        workdir / "console.log",
    )
    cluster.cert = _certificate(workdir)
    site = workdir / "engage-site.conf"
    site.write_text(
        render_nginx(
            (PROJECT_ROOT / "deploy" / "nginx.conf").read_text(),
            {
                "engage_gateways": [
                    f"127.0.0.1:{s.ports['gateway']}" for s in cluster.servers.values()
                ],
                "engage_rasa": [f"127.0.0.1:{s.ports['rasa']}" for s in cluster.servers.values()],
                "engage_console": [f"127.0.0.1:{console_port}"],
            },
            ports,
            cluster.cert,
            workdir / "tls.key",
            workdir / "nginx-access.log",
        )
    )
    main = main_conf(workdir, f"    access_log off;\n    include {site};")
    nginx = command(workdir, main)
    checked = subprocess.run([*nginx, "-t"], capture_output=True, text=True)
    if checked.returncode != 0:
        pytest.fail(f"deploy/nginx.conf does not load:\n{checked.stderr}")
    try:
        from bot.migrate import upgrade

        upgrade(url)
        for server in cluster.servers.values():
            for name in Services.NAMES:
                server.start_one(name, wait=False)
        console.start()
        cluster.workers["console"] = console
        cluster.nginx = subprocess.Popen(
            nginx, stdout=subprocess.DEVNULL, stderr=(workdir / "nginx.out").open("wb")
        )
        for server in cluster.servers.values():
            for name in Services.NAMES:
                server.wait_ready(name, timeout=180)
        _wait(f"http://127.0.0.1:{console_port}/healthz", 60)
        if cluster.nginx.poll() is not None:
            pytest.fail("nginx did not start: " + (workdir / "nginx.out").read_text()[-2000:])
        _wait(cluster.public("/"), 30, verify=cluster.cert, ok=(404,))
        cluster.timings["start_s"] = time.monotonic() - started
        yield cluster
    finally:
        for worker in cluster.workers.values():
            worker.stop()
        if cluster.nginx is not None:
            cluster.nginx.send_signal(signal.SIGQUIT)  # nginx's graceful stop
            try:
                cluster.nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                cluster.nginx.kill()
        for server in cluster.servers.values():
            server.shutdown()
        drop_postgres_database(POSTGRES_URL, dropped)
        if cluster.timings:
            print("\nscale-out timings:", json.dumps(cluster.timings))


def signed_sms(cluster: Cluster, number: str, body: str) -> requests.Response:
    """Post Twilio's webhook to nginx, signed for the public URL as Twilio signs it."""
    path = "/webhooks/sms/webhook"
    fields = {**payload("twilio_sms.json"), "From": number, "Body": body}
    fields["MessageSid"] = fields["SmsSid"] = f"SM{uuid.uuid4().hex}"
    signature = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(
        PUBLIC_BASE_URL + path, fields
    )
    return requests.post(
        cluster.public(path),
        data=urlencode(fields),
        headers={
            "Host": PUBLIC_HOST,
            "content-type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
        timeout=5,
        verify=cluster.cert,
    )


def access_log(cluster: Cluster, path: str) -> list[tuple[str, str]]:
    """(status, upstream address(es)) of each request nginx logged for `path`, in order."""
    found = []
    for line in (cluster.workdir / "nginx-access.log").read_text().splitlines():
        if f" {path} " in line:
            status = line.split('" ', 1)[1].split(" ", 1)[0]
            upstream = re.search(r"upstream=(.*?) upstream_status=", line)
            found.append((status, upstream.group(1) if upstream else ""))
    return found


def scrape(port: int, name: str, **labels: str) -> float:
    """The value of metric `name` (with these labels) on a process's /metrics; 0 if absent."""
    body = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    total = 0.0
    for line in body.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def waiting_requests(port: int) -> int:
    """Bytes and connections sent to a local port that its (frozen) process has not read.

    From /proc/net/tcp: the receive queue of its established connections, and the accept
    queue of its listening socket.
    """
    waiting = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, queues = fields[1], fields[3], fields[4]
        if int(local.split(":")[1], 16) == port and state in ("01", "0A"):  # ESTABLISHED, LISTEN
            waiting += int(queues.split(":")[1], 16)
    return waiting


def views_of(cluster: Cluster, number: str) -> list[str]:
    with cluster.database.transaction() as s:
        resident = resident_at(s, "sms", number)
        return list(
            s.scalars(select(View.text).where(View.resident_id == resident.id).order_by(View.id))
        )


def test_nginx_forwards_only_the_webhooks_and_the_console(cluster):
    def get(path: str, host: str = PUBLIC_HOST) -> int:
        return requests.get(
            cluster.public(path), headers={"Host": host}, timeout=5, verify=cluster.cert
        ).status_code

    assert get("/webhooks/sms/webhook") == 405  # the gateway's own answer: POST only
    for path in ("/healthz", "/metrics", "/webhooks/inbox/", "/webhooks/rest/", "/"):
        assert get(path) == 404, path
    assert get("/healthz", CONSOLE_HOST) == 200  # the console's
    assert get("/metrics", CONSOLE_HOST) == 404
    private = f"http://127.0.0.1:{cluster.rasa_port}"
    assert requests.get(f"{private}/webhooks/inbox/", timeout=5).status_code == 200  # Rasa's
    assert requests.get(f"{private}/metrics", timeout=5).status_code == 404
    # Every process answers /healthz and /metrics on its own port.
    for server in cluster.servers.values():
        for name in ("gateway", "rasa", "actions"):
            port = server.ports[name]
            assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).ok, name
            assert (
                "process_cpu_seconds_total"
                in requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            )


def test_ten_messages_alternate_servers_and_survive_a_rasa_killed_mid_run(cluster, fake):
    started = time.monotonic()
    number = new_number()
    for body in ("hi", "yes"):
        assert signed_sms(cluster, number, body).status_code == 200
        assert cluster.settle()
    posted_at = len(access_log(cluster, "/webhooks/sms/webhook"))
    turns_before = len(access_log(cluster, "/webhooks/inbox/message"))
    # Server A's action server hangs: the first turn nginx gives A's Rasa waits on it,
    # holding the conversation's lock in Redis. Rasa A is killed (SIGKILL) right then.
    server_a = cluster.servers["a"]
    server_a.freeze("actions")
    try:
        for view in VIEWS:
            assert signed_sms(cluster, number, view).status_code == 200
        deadline = time.monotonic() + 30
        while not waiting_requests(server_a.ports["actions"]):
            assert time.monotonic() < deadline, "no turn reached server A"
            time.sleep(0.02)
        server_a.processes["rasa"].kill()
        killed_with = len(views_of(cluster, number))
    finally:
        server_a.thaw("actions")
    assert killed_with < len(VIEWS), "killed too late: every message was already processed"
    assert cluster.settle(60 + TICKET_LOCK_LIFETIME_S), "the inbox did not empty"
    cluster.timings["ten_messages_s"] = round(time.monotonic() - started, 1)

    # Every message processed once, in order, and its view stored in that order.
    assert views_of(cluster, number) == VIEWS
    with cluster.database.transaction() as s:
        resident = resident_at(s, "sms", number)
        inbox = s.execute(
            select(InboxMessage.id, InboxMessage.status, InboxMessage.attempts)
            .where(InboxMessage.resident_id == resident.id)
            .order_by(InboxMessage.id)
        ).all()
        ran = s.execute(
            text("select data from events where sender_id = :c and type_name = 'user' order by id"),
            {"c": resident.conversation_id},
        ).scalars()
        message_ids = [json.loads(data).get("message_id") for data in ran]
    assert [status for _, status, _ in inbox] == ["done"] * (len(VIEWS) + 2)
    assert message_ids == [f"inbox-{inbox_id}" for inbox_id, _, _ in inbox]  # once each
    replies = fake.sms_to(number)
    noted = [r for r in replies if r.startswith("Thanks, noted under")]
    assert len(noted) == len(VIEWS), replies  # one answer per view, none twice

    # nginx alternated the ten webhooks between the two gateways...
    gateways = {f"127.0.0.1:{s.ports['gateway']}" for s in cluster.servers.values()}
    posts = access_log(cluster, "/webhooks/sms/webhook")[posted_at:]
    assert [status for status, _ in posts] == ["200"] * len(VIEWS)
    used = [upstream for _, upstream in posts]
    assert set(used) == gateways and all(a != b for a, b in pairwise(used)), used
    # ... and moved every turn to server B's Rasa once A's was gone.
    rasa_b = f"127.0.0.1:{cluster.servers['b'].ports['rasa']}"
    turns = access_log(cluster, "/webhooks/inbox/message")[turns_before:]
    assert turns[-1] == ("200", rasa_b) or turns[-1][1].endswith(rasa_b), turns
    # The turn cut off on A failed (502) and was tried again, on B, once.
    cut_off = sum(status != "200" for status, _ in turns)
    retried = sum(attempts > 1 for _, _, attempts in inbox)
    assert cut_off >= 1 and retried >= 1, (turns, inbox)
    cluster.timings.update(
        turns_through_nginx=len(turns),
        turns_cut_off=cut_off,
        views_before_kill=killed_with,
        retried_messages=retried,
    )
    # The gateways counted what each accepted.
    accepted = [
        scrape(s.ports["gateway"], "engage_messages_in_total", channel="sms")
        for s in cluster.servers.values()
    ]
    assert sum(accepted) >= len(VIEWS) + 2 and min(accepted) >= len(VIEWS) // 2, accepted


def _seed_fan_out(cluster: Cluster) -> tuple[list[str], list[str], int]:
    """Residents to tell about an update, residents due a check-in; the update (a draft)."""
    told = [f"+4477008{n:05d}" for n in range(UPDATE_RESIDENTS)]
    due = [f"+4477007{n:05d}" for n in range(CHECKIN_RESIDENTS)]
    now = datetime.now(timezone.utc)
    with cluster.database.transaction() as s:
        for number in told:
            conversation_for(s, "sms", number)
            person = resident_at(s, "sms", number)
            record_consent(s, person, given=True, wording="w", channel="sms")
            store_view(s, person, text="t", theme_key="roads_transport", confidence=0.9,
                       channel="sms")  # fmt: skip
        for number in due:
            conversation_for(s, "sms", number)
            person = resident_at(s, "sms", number)
            record_consent(s, person, given=True, wording="w", channel="sms")
            person.created_at = now - timedelta(days=30, hours=1)  # due an hour ago
        update = draft_update(
            s,
            UpdateDraft(
                title="Later buses",
                you_said="buses stop too early",
                we_did="From 3 March the 42 runs until 11pm.",
                themes=["roads_transport"],
            ),
            created_by="test",
        )
        return told, due, update.id


def test_two_notifiers_and_two_schedulers_tell_everyone_once_within_the_rate(cluster, fake):
    told, due, update_id = _seed_fan_out(cluster)
    first_call = len(fake.calls)
    started = time.monotonic()
    # Schedulers reach Rasa directly, through RASA_URL's list (server A's Rasa may be dead).
    rasa_urls = ",".join(f"http://127.0.0.1:{s.ports['rasa']}" for s in cluster.servers.values())
    for name in ("a", "b"):
        for kind, port_setting in (("notifier", "NOTIFIER_PORT"), ("scheduler", "SCHEDULER_PORT")):
            env = cluster.worker_env(port_setting, rasa_urls)
            worker = Process(kind, env, cluster.workdir / f"{kind}-{name}.log")
            worker.ready_url = f"http://127.0.0.1:{env['_PORT']}/healthz"
            cluster.workers[f"{kind}-{name}"] = worker.start()
    for worker in cluster.workers.values():
        if worker.ready_url:
            _wait(worker.ready_url, 60)
    # Both notifiers are up and looking at the outbox: an officer publishes the update
    # while the schedulers are opening their check-ins.
    with cluster.database.transaction() as s:
        publish(s, update_id)
        recipients = len(s.scalars(select(OutboxMessage.id)).all())
    assert recipients >= UPDATE_RESIDENTS
    cluster.timings["workers_start_s"] = round(time.monotonic() - started, 1)
    started = time.monotonic()

    def finished() -> bool:
        with cluster.database.transaction() as s:
            open_rows = s.scalar(
                select(OutboxMessage.id).where(OutboxMessage.status.in_(("queued", "sending")))
            )
            sent = s.scalars(select(Checkin.id).where(Checkin.status == "sent")).all()
        return open_rows is None and len(sent) >= CHECKIN_RESIDENTS

    deadline = time.monotonic() + 60
    while not finished():
        assert time.monotonic() < deadline, "the notifiers and schedulers did not finish"
        for worker in cluster.workers.values():
            assert worker.popen is not None and worker.popen.poll() is None, worker.name
        time.sleep(0.2)
    cluster.timings["fan_out_s"] = round(time.monotonic() - started, 1)

    # Nobody told twice: one update to each recipient, one check-in to each resident due.
    for number in told:
        assert len(fake.sms_to(number)) == 1, number
    for number in due:
        assert len(fake.sms_to(number)) == 1, number
    with cluster.database.transaction() as s:
        statuses = s.scalars(select(OutboxMessage.status)).all()
        checkins = s.execute(select(Checkin.resident_id, Checkin.status)).all()
        residents_due = s.scalars(
            select(Resident.id).where(
                Resident.created_at < datetime.now(timezone.utc) - timedelta(days=29)
            )
        ).all()
    assert set(statuses) == {"sent"} and len(statuses) == recipients
    assert sorted(r for r, status in checkins if status == "sent") == sorted(residents_due)

    # The rate limit held for the sum of the four workers (one Twilio number, in Redis).
    sends = sorted(c.at for c in list(fake.calls)[first_call:] if c.provider == "twilio" and c.sid)
    assert len(sends) == recipients + CHECKIN_RESIDENTS
    span = sends[-1] - sends[0]
    rate = (len(sends) - 1) / span
    busiest = max(sum(1 for t in sends if a <= t < a + 1.0) for a in sends)
    cluster.timings.update(sent=len(sends), rate_per_s=round(rate, 1), busiest_second=busiest)
    assert rate <= SMS_PER_SECOND * 1.05, rate
    # Times are when the fake received each send: a late slot is used up to 0.1 s late, and
    # on a busy machine sends queue on the way. Two notifiers on limits of their own would
    # reach twice the rate; together they stay within it.
    assert busiest <= SMS_PER_SECOND * 1.5, busiest
    # The slots came from Redis, not the database.
    prefix, number = cluster.env["REDIS_KEY_PREFIX"], cluster.env["TWILIO_FROM_NUMBER"]
    client = redis.Redis.from_url(REDIS_URL)
    try:
        assert client.exists(f"{prefix}:send_slot:sms:{number}")
    finally:
        client.close()
    with cluster.database.transaction() as s:
        assert s.scalars(select(SendSlot.identity)).all() == []

    # Both notifiers sent, each counted it, and every worker answers its health check.
    per_notifier = [
        scrape(int(w.env["_PORT"]), "engage_outbox_settled_total", channel="sms", outcome="sent")
        for key, w in cluster.workers.items()
        if key.startswith("notifier")
    ]
    per_scheduler = [
        scrape(int(w.env["_PORT"]), "engage_checkins_total", outcome="sent")
        for key, w in cluster.workers.items()
        if key.startswith("scheduler")
    ]
    cluster.timings.update(per_notifier=per_notifier, per_scheduler=per_scheduler)
    assert sum(per_notifier) == recipients and min(per_notifier) > 0, per_notifier
    assert sum(per_scheduler) == CHECKIN_RESIDENTS, per_scheduler
    for worker in cluster.workers.values():
        if worker.ready_url:
            assert requests.get(worker.ready_url, timeout=5).json()["status"] == "ok"
