"""Runs fediverse-pasture's verify_actor against one actor and prints its verdict.

Usage (with the Python of tests/interop/.venv, which `bash scripts/test.sh` installs):

    python verify_actor.py ACTOR_URI [--timeout SECONDS] [--deadline SECONDS]

It starts pasture's own verify_actor app (fediverse_pasture.verify_actor.build_app) on
127.0.0.1 on a free port with uvicorn, in a temporary folder (the app writes its actors' keys
to data.toml in the current folder), then asks it to verify ACTOR_URI the way its web form
does: POST / with the form field actor_uri and `accept: application/json`.  The app's test
actors alice, bob, claire, dean, emily and frank each fetch the actor and POST to its inbox
(bob, claire, emily and frank sign both; alice and dean send unsigned requests; claire and
frank answer only signed GETs of their own actor documents), and its actor `actor` checks
that WebFinger of acct:{preferredUsername}@{host} leads back to the actor.

Prints ONE line on stdout and exits 0:

    {"status": 200, "result": {"alice": {"get_actor": .., "post_inbox": ..}, ..,
     "webfinger": ..}, "messages": [..pasture's log of steps..], "pasture": "127.0.0.1:PORT"}

or prints `verify_actor.py: error: ...` on stderr and exits 1.  Every request pasture sends is
bounded by --timeout (default 10 s), the whole run by --deadline (default 150 s).
"""

import argparse
import asyncio
import json
import logging
import os
import socket
import sys
import tempfile


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("actor_uri")
    parser.add_argument("--timeout", type=float, default=10)
    parser.add_argument("--deadline", type=float, default=150)
    return parser.parse_args()


async def verify(actor_uri: str, timeout: float) -> dict:
    # Imported here: verify_actor configures logging at import; we then quieten it to INFO
    # (its step log) on stderr, which the Rust test shows when an assertion fails.
    import aiohttp
    import uvicorn
    from fediverse_pasture.verify_actor import build_app

    logging.getLogger().setLevel(logging.INFO)

    # Bind first, then hand the socket to uvicorn: no window in which another process can
    # take the port between choosing it and listening on it.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    domain = f"127.0.0.1:{sock.getsockname()[1]}"

    app = build_app(only_generate_config=False, domain=domain, https=False, timeout=timeout)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(200):
            if server.started or serving.done():
                break
            await asyncio.sleep(0.05)
        if not server.started:
            raise RuntimeError(f"pasture's app did not start on {domain}")

        # The verifier runs the six actors one after another, each request bounded by
        # `timeout`; this bounds the whole verification.
        limit = aiohttp.ClientTimeout(total=timeout * 14)
        async with aiohttp.ClientSession(timeout=limit) as session:
            async with session.post(
                f"http://{domain}/",
                data={"actor_uri": actor_uri},
                headers={"accept": "application/json"},
            ) as response:
                status = response.status
                text = await response.text()
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, timeout=10)

    try:
        body = json.loads(text)
    except ValueError:
        raise RuntimeError(f"pasture answered {status} with non-JSON: {text[:500]}")
    messages = body.get("messages")
    if isinstance(messages, str):
        # The app returns its step log as a JSON string inside the JSON.
        messages = json.loads(messages).get("steps", messages)
    return {
        "status": status,
        "result": body.get("result"),
        "messages": messages,
        "pasture": domain,
    }


def main() -> int:
    args = parse_args()
    previous = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="pasture-") as folder:
        os.chdir(folder)
        try:
            out = asyncio.run(asyncio.wait_for(verify(args.actor_uri, args.timeout), args.deadline))
        except Exception as e:
            print(f"verify_actor.py: error: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
        finally:
            os.chdir(previous)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
