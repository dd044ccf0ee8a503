#!/usr/bin/env python3
"""A minimal external portal application for netauth (standard library only).

netauth sends a captive device here with a signed login request; this app checks the
signature and the expiry, shows a page with a "Connect" button, and on a click sends the
browser back to the gateway with a signed grant. The protocol is described in
docs/external-portal.md. Run:

    python3 app.py --listen 198.51.100.2:8099 --secret-file /etc/netauth/external.secret

Options: --duration SECONDS, --quota BYTES, --rate-up and --rate-down BITS_PER_SECOND set
what the grant gives (empty: the gateway's defaults), --username NAME the user's name for
the gateway's log.
"""

import argparse
import hashlib
import hmac
import html
import secrets
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROTOCOL = "netauth-external-v1"
LOGIN_FIELDS = ["gw", "mac", "ip", "url", "grant_url", "nonce", "exp"]
GRANT_FIELDS = ["gw", "mac", "nonce", "exp", "duration", "quota", "rate_up", "rate_down", "username"]
GRANT_LIFETIME = 120  # seconds the browser has to bring the grant back


def canonical(kind, fields):
    """The string both sides sign: protocol, kind, then name=value lines in order."""
    return "".join([PROTOCOL + "\n", kind + "\n"] + [f"{k}={v}\n" for k, v in fields])


def sign(key, message):
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


class App:
    def __init__(self, key, duration, quota, rate_up, rate_down, username):
        self.key = key
        self.duration = duration
        self.quota = quota
        self.rate_up = rate_up
        self.rate_down = rate_down
        self.username = username
        self.visits = {}  # token -> verified login request


def page(title, body):
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        f"<title>{html.escape(title)}</title></head><body><main>{body}</main></body></html>"
    ).encode("utf-8")


def make_handler(app):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            sys.stderr.write("external-portal: " + (fmt % args) + "\n")

        def send(self, status, body=b"", location=None):
            self.send_response(status)
            self.send_header("Cache-Control", "no-store")
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            path, _, query = self.path.partition("?")
            if len(query) > 8192:
                return self.send(414, page("Too long", "<p>Request too long.</p>"))
            q = urllib.parse.parse_qs(query, keep_blank_values=True)
            if any(len(v) != 1 for v in q.values()):
                return self.send(400, page("Bad request", "<p>Repeated parameter.</p>"))
            q = {k: v[0] for k, v in q.items()}
            if path == "/portal":
                return self.login(q)
            if path == "/connect":
                return self.connect(q)
            return self.send(404, page("Not found", "<p>No such page.</p>"))

        def login(self, q):
            try:
                fields = [(k, q[k]) for k in LOGIN_FIELDS]
                sig = q["sig"]
            except KeyError:
                return self.send(400, page("Bad request", "<p>Missing parameter.</p>"))
            want = sign(app.key, canonical("login", fields))
            if not hmac.compare_digest(want, sig):
                self.log_message("login request refused: bad signature")
                return self.send(403, page("Refused", "<p>The request was not signed by the gateway.</p>"))
            if int(q["exp"]) < time.time():
                return self.send(403, page("Expired", "<p>The request expired; please start again.</p>"))
            token = secrets.token_urlsafe(16)
            app.visits[token] = dict(fields)
            body = (
                "<h1 id=\"app-title\">Welcome to the venue's own portal</h1>"
                "<p id=\"verified\">Signed request verified for device "
                f"<code>{html.escape(q['mac'])}</code> ({html.escape(q['ip'])}).</p>"
                f"<form method=\"get\" action=\"/connect\"><input type=\"hidden\" name=\"t\" value=\"{token}\">"
                "<button id=\"connect\" type=\"submit\">Connect</button></form>"
            )
            return self.send(200, page("Venue portal", body))

        def connect(self, q):
            visit = app.visits.pop(q.get("t", ""), None)
            if visit is None:
                return self.send(403, page("Refused", "<p>Unknown or used visit.</p>"))
            fields = [
                ("gw", visit["gw"]),
                ("mac", visit["mac"]),
                ("nonce", visit["nonce"]),
                ("exp", str(int(time.time()) + GRANT_LIFETIME)),
                ("duration", app.duration),
                ("quota", app.quota),
                ("rate_up", app.rate_up),
                ("rate_down", app.rate_down),
                ("username", app.username),
            ]
            sig = sign(app.key, canonical("grant", fields))
            query = urllib.parse.urlencode(fields + [("sig", sig)])
            return self.send(303, location=visit["grant_url"] + "?" + query)

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--listen", required=True, help="ADDRESS:PORT")
    p.add_argument("--secret-file", required=True)
    p.add_argument("--duration", default="3600")
    p.add_argument("--quota", default="")
    p.add_argument("--rate-up", default="")
    p.add_argument("--rate-down", default="")
    p.add_argument("--username", default="guest")
    a = p.parse_args()
    with open(a.secret_file, encoding="utf-8") as f:
        key = f.readline().strip().encode("utf-8")
    host, _, port = a.listen.rpartition(":")
    server = ThreadingHTTPServer((host.strip("[]"), int(port)), make_handler(
        App(key, a.duration, a.quota, a.rate_up, a.rate_down, a.username)
    ))
    print(f"external portal listening on {a.listen}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
