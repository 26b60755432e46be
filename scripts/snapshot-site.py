#!/usr/bin/env python3
"""Fetch every document a masthead site serves and write each to a folder, so that two builds can
be compared byte for byte (a refactor must not change what followers receive).

    python3 scripts/snapshot-site.py --binary target/debug/masthead --data-dir /tmp/d --out /tmp/a
    python3 scripts/snapshot-site.py --binary /path/to/other/masthead --data-dir /tmp/d --out /tmp/b
    diff -r /tmp/a /tmp/b

Reuse one --data-dir for both runs (it holds the keys and first-seen times that documents carry).
The crawl starts at WebFinger, NodeInfo, host-meta, the home page and every actor, asks each URL
of the site for ActivityPub JSON and for HTML, and follows every same-site URL it finds; it is
bounded (at most --max documents) and talks only to 127.0.0.1.
"""

import argparse
import hashlib
import json
import re
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ACCEPTS = {
    "ap": "application/activity+json",
    "html": "text/html",
}
# Response headers that differ from run to run by nature.
VOLATILE = {"date"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str, accept: str):
    req = urllib.request.Request(url, headers={"Accept": accept})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--config", default="site.toml")
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--max", type=int, default=2000)
    args = ap.parse_args()

    config = tomllib.loads(Path(args.config).read_text())
    base = config["site"]["base_url"].rstrip("/")
    handles = [a["handle"] for a in config.get("actor", [])]
    host = urllib.parse.urlsplit(base).netloc
    domain = config["site"].get("domain", urllib.parse.urlsplit(base).hostname)
    port = free_port()
    local = f"http://127.0.0.1:{port}"

    server = subprocess.Popen(
        [args.binary, "serve", "--config", args.config, "--data-dir", args.data_dir,
         "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            print("server did not start", file=sys.stderr)
            return 1

        seeds = ["/", "/.well-known/host-meta", "/.well-known/nodeinfo", "/nodeinfo/2.1", "/actor"]
        for h in handles:
            seeds.append(f"/.well-known/webfinger?resource=acct:{h}@{domain}")
            seeds.append(f"/users/{h}")
            seeds.append(f"/@{h}")
        queue = [(s, kind) for s in seeds for kind in ACCEPTS]
        seen = set()
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        count = 0
        while queue and count < args.max:
            path, kind = queue.pop(0)
            if (path, kind) in seen:
                continue
            seen.add((path, kind))
            status, headers, body = fetch(local + path, ACCEPTS[kind])
            count += 1
            name = re.sub(r"[^A-Za-z0-9._-]", "_", path.strip("/") or "root")
            if len(name) > 120:
                name = name[:100] + hashlib.sha256(path.encode()).hexdigest()[:16]
            kept = {k.lower(): v for k, v in headers.items() if k.lower() not in VOLATILE}
            head = f"GET {path} Accept: {ACCEPTS[kind]}\n{status}\n" + "".join(
                f"{k}: {kept[k]}\n" for k in sorted(kept)
            )
            (out / f"{name}.{kind}").write_bytes(head.encode() + b"\n" + body)
            text = body.decode("utf-8", "replace")
            for u in re.findall(r'(?:"|\')((?:' + re.escape(base) + r'|/)[^"\'\s<>]*)', text):
                u = u.replace("&amp;", "&")
                if u.startswith(base):
                    u = u[len(base):] or "/"
                if not u.startswith("/") or u.startswith("//"):
                    continue
                u = u.split("#")[0]
                for k in ACCEPTS:
                    if (u, k) not in seen:
                        queue.append((u, k))
        print(f"{count} documents from {host} written to {out}")
        return 0
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
