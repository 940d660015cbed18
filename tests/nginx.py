"""nginx as deploy/nginx.conf has it, on this machine's ports: for the scale-out test and bench."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/bin/nginx") if os.access(p, os.X_OK)), None
)
SITE = Path(__file__).resolve().parent.parent / "deploy" / "nginx.conf"


def with_upstream(site: str, name: str, servers: list[str]) -> str:
    """`site` with upstream `name`'s servers replaced by `servers` (keeping their options)."""
    block = re.search(rf"upstream {name} \{{(.*?)\n\}}", site, re.S)
    assert block, f"deploy/nginx.conf has no upstream {name}"
    first = re.search(r"^\s*server \S+( [^;]*)?;", block.group(1), re.M)
    assert first, f"upstream {name} has no server line"
    options = first.group(1) or ""
    lines = "".join(f"\n    server {s}{options};" for s in servers)
    return site.replace(block.group(0), f"upstream {name} {{{lines}\n}}")


def main_conf(workdir: Path, http_body: str) -> Path:
    """A main nginx.conf like Debian's around `http_body` (one worker: plain round robin)."""
    conf = workdir / "nginx.conf"
    temp = workdir / "nginx-temp"
    temp.mkdir(exist_ok=True)
    os.chmod(temp, 0o777)  # a scratch folder, for nginx's workers (maybe another user)
    conf.write_text(
        f"""daemon off;
worker_processes 1;
pid {workdir / "nginx.pid"};
error_log {workdir / "nginx-error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {temp / "body"};
    proxy_temp_path {temp / "proxy"};
    fastcgi_temp_path {temp / "fastcgi"};
    uwsgi_temp_path {temp / "uwsgi"};
    scgi_temp_path {temp / "scgi"};
{http_body}
}}
"""
    )
    return conf


def command(workdir: Path, conf: Path) -> list[str]:
    """The command that runs nginx with `conf` in the foreground."""
    error_log = str(workdir / "nginx-error.log")
    return [NGINX or "nginx", "-p", str(workdir), "-c", str(conf), "-e", error_log]
