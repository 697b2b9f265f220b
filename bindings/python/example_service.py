#!/usr/bin/python3 -P
"""A small Python service with one non-essential dependency behind a switch.

    PYTHONPATH=<builddir>/bindings/python \\
    DEGRADE_ADMIN_ADDR=127.0.0.1:8081 DEGRADE_ADMIN_TOKEN=$(openssl rand -hex 16) \\
        /usr/bin/python3 -P bindings/python/example_service.py --port 8080

(-P keeps this script's directory off sys.path: there, the source tree's
degrade/ lacks the compiled _degrade and would shadow the built package.)

    curl localhost:8080/                     # lesson + personalized recommendations
    curl -X PUT -H 'Authorization: Bearer secret' -H 'Content-Type: application/json' \\
        -d '"off"' localhost:8081/degrade/v1/switches/recommendations
    curl localhost:8080/                     # lesson + fallback, no call to the vendor

The page (the essential path: the lesson) always renders; recommendations
come from a flaky "vendor" that the switch can cut. Operators flip it with
DEGRADE_RECOMMENDATIONS=off at start, a DEGRADE_CONFIG_FILE, the admin
endpoint (DEGRADE_ADMIN_ADDR), or a remote source; VENDOR_FAILURE_RATE makes
the vendor fail so the fallback path shows. Ctrl-C stops it.
"""

import argparse
import json
import os
import random
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import degrade

# Defined once, at import: reads DEGRADE_RECOMMENDATIONS now.
RECOMMENDATIONS = degrade.switch(
    "recommendations",
    description="Personalized course recommendations; lessons render without them.",
    owner="learning-team",
    groups=["tier2"])

VENDOR_FAILURE_RATE = float(os.environ.get("VENDOR_FAILURE_RATE", "0"))


def fetch_recommendations(user: str) -> list[str]:
    """The non-essential dependency: a vendor API (simulated)."""
    time.sleep(0.02)
    if random.random() < VENDOR_FAILURE_RATE:
        raise ConnectionError("vendor returned 503")
    return [f"{topic} for {user}" for topic in ("Fractions", "Geometry", "Statistics")]


def popular_courses(user: str) -> list[str]:
    """The fallback: local, cheap, cannot fail."""
    return ["Most popular this week"]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/healthz":
            self.reply(200, {"ok": True})
            return
        user = "ada"
        recs = degrade.call(RECOMMENDATIONS,
                            lambda: fetch_recommendations(user),
                            lambda: popular_courses(user))
        self.reply(200, {"lesson": "Lesson 7: ratios", "recommendations": recs,
                         "degraded": not RECOMMENDATIONS.enabled})

    def reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt: str, *args: Any) -> None:
        pass  # quiet


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()

    def on_change(event: dict[str, Any]) -> None:
        print(f"degrade: {event['switch']}: {event['old']['state']} -> "
              f"{event['new']['state']} ({event['layer']}, {event['reason'] or 'no reason'})",
              flush=True)

    degrade.add_listener(on_change)
    # Config file, remote source and admin endpoint, as the environment says.
    with degrade.Runtime.from_env() as runtime, \
            ThreadingHTTPServer(("127.0.0.1", args.port), Handler) as server:
        admin = f", admin on port {runtime.admin_port}" if runtime.admin_port else ""
        print(f"serving on http://127.0.0.1:{server.server_address[1]}{admin}", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
