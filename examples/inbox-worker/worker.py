#!/usr/bin/env python3
"""An example Herald backend worker: the inbox actions (sendMessage, markAsRead,
updateConversationStatus) against an in-memory store, answering each request and publishing the
resulting events with history so every tab of the account sees them (and can recover them).

Two modes, matching Herald's two upstreams (README.md beside this file):

  stream  (HERALD_REDIS_URL set on the nodes) — reads `herald:upstream` as a member of a consumer
          group (XREADGROUP), claims entries a crashed worker left pending (XAUTOCLAIM), publishes
          events with `FCALL herald_publish`, replies to the asking connection with a `connection`
          target, and XACKs each entry only after its events and reply went out: at-least-once.
  http    (HERALD_UPSTREAM_URL pointing here; works with the embedded broker of scripts/run.sh) —
          serves the POSTs Herald sends, checks their HMAC-SHA256 signature, publishes events
          through Herald's HTTP API and answers the request with the reply body.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATUSES = ("open", "pending", "closed")


def log(message: str) -> None:
    print(f"worker[{os.getpid()}] {message}", flush=True)


class InboxStore:
    """Conversations in memory: messages, who read what, and a status. Thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.conversations: dict[tuple[str, str], dict] = {}
        self.ids = itertools.count(1)
        # (account, user, client_message_id) → message: a retried sendMessage is not stored twice.
        self.sent: dict[tuple[str, str, str], dict] = {}

    def conversation(self, account: str, conversation_id: str) -> dict:
        return self.conversations.setdefault(
            (account, conversation_id), {"status": "open", "messages": [], "read": {}})

    def handle(self, account: str, user: str, kind: str, data) -> tuple[list[dict], dict]:
        """Carries out one action; returns the events to publish and the reply's data."""
        if not isinstance(data, dict):
            return [], {"ok": False, "error": "data must be an object"}
        conversation_id = data.get("conversation_id")
        if not isinstance(conversation_id, str) or not conversation_id:
            return [], {"ok": False, "error": "conversation_id is required"}
        with self.lock:
            conversation = self.conversation(account, conversation_id)
            if kind == "sendMessage":
                text = data.get("text")
                if not isinstance(text, str) or not text:
                    return [], {"ok": False, "error": "text is required"}
                key = (account, user, str(data.get("client_message_id", "")))
                if key[2] and key in self.sent:
                    return [], {"ok": True, "message": self.sent[key], "duplicate": True}
                message = {"id": next(self.ids), "conversation_id": conversation_id, "author": user, "text": text,
                           "client_message_id": data.get("client_message_id"), "at": int(time.time() * 1000)}
                conversation["messages"].append(message)
                if key[2]:
                    self.sent[key] = message
                return [{"type": "message.new", "data": message}], {"ok": True, "message": message}
            if kind == "markAsRead":
                last = conversation["messages"][-1]["id"] if conversation["messages"] else 0
                message_id = data.get("message_id", last)
                conversation["read"][user] = message_id
                event = {"conversation_id": conversation_id, "user": user, "message_id": message_id}
                return [{"type": "conversation.read", "data": event}], {"ok": True, **event}
            if kind == "updateConversationStatus":
                status = data.get("status")
                if status not in STATUSES:
                    return [], {"ok": False, "error": f"status must be one of {', '.join(STATUSES)}"}
                conversation["status"] = status
                event = {"conversation_id": conversation_id, "status": status, "by": user}
                return [{"type": "conversation.status", "data": event}], {"ok": True, **event}
        return [], {"ok": False, "error": f"unknown action {kind}"}


# ---------------------------------------------------------------------------------------------
# Stream mode


def run_stream(args, store: InboxStore) -> None:
    import redis  # redis-py; scripts/install-python-deps.sh puts it into .venv/

    client = redis.Redis.from_url(args.redis_url, decode_responses=False)
    streams = [s for s in args.stream.split(",") if s]
    for stream in streams:
        try:
            client.xgroup_create(stream, args.group, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
    log(f"stream mode: {', '.join(streams)} as {args.consumer} in group {args.group}")

    def process(stream: str, entry_id: bytes, raw: dict) -> None:
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        account, user, kind = fields["account"], fields["user"], fields["type"]
        data = json.loads(fields.get("data", "null"))
        if args.process_delay_ms:
            time.sleep(args.process_delay_ms / 1000)
        events, answer = store.handle(account, user, kind, data)
        channel = f"herald:{{{account}}}"
        for event in events:
            client.fcall("herald_publish", 1, channel, json.dumps(event))
        if "id" in fields:  # the client asked for an answer: reply to its connection alone
            reply = {"type": "reply", "connection": fields["connection"], "ref": json.loads(fields["id"]), "data": answer}
            client.publish(channel, json.dumps(reply))
        client.xack(stream, args.group, entry_id)
        log(f"processed {kind} {entry_id.decode()} from {user}@{account}")

    idle_since = time.monotonic()
    last_claim = 0.0
    while not args.exit_after_idle or time.monotonic() - idle_since < args.exit_after_idle:
        work = []
        if time.monotonic() - last_claim >= args.claim_every:
            last_claim = time.monotonic()
            for stream in streams:
                _, claimed, *_ = client.xautoclaim(stream, args.group, args.consumer, args.claim_idle_ms, "0-0", count=args.batch)
                if claimed:
                    log(f"claimed {len(claimed)} pending entries of {stream}")
                work += [(stream, entry_id, raw) for entry_id, raw in claimed if raw]
        if not work:
            reply = client.xreadgroup(args.group, args.consumer, {s: ">" for s in streams}, count=args.batch, block=1000)
            for stream, entries in reply or []:
                work += [(stream.decode(), entry_id, raw) for entry_id, raw in entries]
        if work:
            idle_since = time.monotonic()
        for stream, entry_id, raw in work:
            process(stream, entry_id, raw)


# ---------------------------------------------------------------------------------------------
# HTTP mode


def run_http(args, store: InboxStore) -> None:
    secret = args.secret.encode()
    host, _, port = args.http.rpartition(":")

    def publish(account: str, event: dict) -> None:
        body = json.dumps({"account": account, **event}).encode()
        request = urllib.request.Request(
            f"{args.herald_url}/api/v1/publish", data=body, method="POST",
            headers={"Authorization": f"Bearer {args.api_key}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, self.headers.get("X-Herald-Signature", "")):
                self.send_response(401)
                self.end_headers()
                return
            message = json.loads(body)
            events, answer = store.handle(message["account"], message["user"], message["type"], message.get("data"))
            for event in events:
                publish(message["account"], event)
            reply = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
            log(f"processed {message['type']} from {message['user']}@{message['account']}")

        def log_message(self, *_) -> None:
            pass

    server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), Handler)
    log(f"http mode: listening on {args.http}, publishing through {args.herald_url}")
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis-url", default=os.environ.get("HERALD_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--stream", default=os.environ.get("HERALD_UPSTREAM_STREAM", "herald:upstream"),
                        help="stream(s) to read, comma-separated (all N of a split stream)")
    parser.add_argument("--group", default="inbox-workers")
    parser.add_argument("--consumer", default=f"{socket.gethostname()}-{os.getpid()}")
    parser.add_argument("--batch", type=int, default=10, help="entries read (or claimed) at once")
    parser.add_argument("--claim-idle-ms", type=int, default=30_000,
                        help="claim another consumer's entries pending longer than this (its worker died)")
    parser.add_argument("--claim-every", type=float, default=5.0, help="seconds between XAUTOCLAIM rounds")
    parser.add_argument("--process-delay-ms", type=int, default=0, help="simulated work per entry (tests)")
    parser.add_argument("--exit-after-idle", type=float, default=0, help="exit after this many idle seconds (0: never)")
    parser.add_argument("--http", help="HTTP mode: host:port to serve Herald's upstream POSTs on")
    parser.add_argument("--secret", default=os.environ.get("HERALD_UPSTREAM_SECRET", ""), help="HTTP mode: the shared signing secret")
    parser.add_argument("--herald-url", default="http://127.0.0.1:8080", help="HTTP mode: a node's base URL, for publishing")
    parser.add_argument("--api-key", default=os.environ.get("HERALD_API_KEYS", "dev-api-key").split(",")[0],
                        help="HTTP mode: a Herald API key")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    store = InboxStore()
    if args.http:
        if not args.secret:
            parser.error("--http needs --secret (or HERALD_UPSTREAM_SECRET), the same as the nodes'")
        run_http(args, store)
    else:
        run_stream(args, store)


if __name__ == "__main__":
    main()
