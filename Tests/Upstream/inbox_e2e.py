#!/usr/bin/env python3
"""The inbox flow end to end, with the example worker (examples/inbox-worker/worker.py), a real
redis-server and two edge-node processes on free loopback ports:

1. inbox: a tab sends sendMessage / markAsRead / updateConversationStatus; the sender gets `ack`
   first, then every tab of the account on both nodes gets the event once (with its history
   offset), and the sender gets its `reply`; tabs of another account get nothing.
2. crash: a worker is SIGKILLed mid-batch with entries read but not acked; a second worker claims
   them (XAUTOCLAIM) and processes them: every message sent is delivered, none lost, nothing left
   pending.
3. http: a node on the embedded broker with HERALD_UPSTREAM_URL pointing at the worker in HTTP mode.

Bounded in time; prints one line per check and `N passed, N failed` at the end. Exit 0 when all passed.
Usage: .venv/bin/python Tests/Upstream/inbox_e2e.py [--edge-node .build/debug/edge-node]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import redis
from websockets.asyncio.client import connect as ws_connect

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKER = os.path.join(ROOT, "examples", "inbox-worker", "worker.py")
JWT_SECRET = "upstream-e2e-secret-0123456789abcdefghij"
API_KEY = "upstream-e2e-api-key"
UPSTREAM_SECRET = "upstream-e2e-signing-secret"
results = {"passed": 0, "failed": 0}


def check(condition: bool, what: str) -> None:
    results["passed" if condition else "failed"] += 1
    print(f"{'ok  ' if condition else 'FAIL'} {what}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def token(account: str, user: str) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64(json.dumps({"sub": user, "account": account, "exp": int(time.time()) + 600}).encode())
    signature = hmac.new(JWT_SECRET.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{b64(signature)}"


def wait_ready(port: int, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"node on {port} not ready")


class Cluster:
    """redis-server and edge nodes as child processes, stopped by close()."""

    def __init__(self, edge_node: str) -> None:
        self.edge_node = edge_node
        self.processes: list[subprocess.Popen] = []
        self.directory = tempfile.mkdtemp(prefix="herald-upstream-e2e-")

    def redis(self) -> str:
        port = free_port()
        server = os.environ.get("HERALD_REDIS_SERVER") or shutil.which("redis-server") or "redis-server"
        self.processes.append(subprocess.Popen(
            [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", self.directory],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url)
        for _ in range(100):
            try:
                client.ping()
                return url
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def node(self, **environment: str) -> int:
        port = free_port()
        env = dict(os.environ, HERALD_LISTEN=f"127.0.0.1:{port}", HERALD_JWT_SECRET=JWT_SECRET, HERALD_API_KEYS=API_KEY,
                   HERALD_LOG_LEVEL="error", HERALD_NODE_ID=f"n{port}", **environment)
        self.processes.append(subprocess.Popen([self.edge_node, "serve"], env=env))
        wait_ready(port)
        return port

    def worker(self, *arguments: str) -> subprocess.Popen:
        """Starts the example worker; its output goes to a file (a pipe nobody reads would stall it)."""
        log = open(os.path.join(self.directory, f"worker-{len(self.processes)}.log"), "w")
        process = subprocess.Popen([sys.executable, WORKER, *arguments], stdout=log, stderr=subprocess.STDOUT, text=True)
        process.log_path = log.name
        log.close()
        self.processes.append(process)
        return process

    @staticmethod
    def output(process: subprocess.Popen) -> str:
        with open(process.log_path) as log:
            return log.read()

    def close(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.kill()
            process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


class Tab:
    """One WebSocket client; every JSON frame it receives is kept in order."""

    def __init__(self, port: int, account: str, user: str) -> None:
        self.url = f"ws://127.0.0.1:{port}/ws?token={token(account, user)}"
        self.frames: list[dict] = []
        self.connection_id = ""

    async def open(self) -> "Tab":
        self.socket = await ws_connect(self.url)
        connected = json.loads(await self.socket.recv())
        self.connection_id = connected["connection_id"]
        self.reader = asyncio.get_running_loop().create_task(self.read())
        return self

    async def read(self) -> None:
        async for text in self.socket:
            frame = json.loads(text)
            if not frame.get("type", "").startswith("presence."):
                self.frames.append(frame)

    async def send(self, message: dict) -> None:
        await self.socket.send(json.dumps(message))

    def of_type(self, kind: str) -> list[dict]:
        return [f for f in self.frames if f.get("type") == kind]

    async def until(self, predicate, seconds: float = 10) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if predicate():
                return True
            await asyncio.sleep(0.02)
        return predicate()

    async def close(self) -> None:
        self.reader.cancel()
        await self.socket.close()


async def inbox_flow(cluster: Cluster, redis_url: str, ports: list[int]) -> None:
    worker = cluster.worker("--redis-url", redis_url, "--claim-idle-ms", "1000", "--claim-every", "0.5")
    alice1 = await Tab(ports[0], "acme", "alice").open()
    alice2 = await Tab(ports[1], "acme", "alice").open()
    bob = await Tab(ports[1], "acme", "bob").open()
    stranger = await Tab(ports[0], "globex", "alice").open()
    tabs = [alice1, alice2, bob]
    await asyncio.sleep(0.3)

    actions = [
        ("sendMessage", {"conversation_id": "c1", "text": "hello from the inbox", "client_message_id": "m-1"}, "message.new"),
        ("markAsRead", {"conversation_id": "c1"}, "conversation.read"),
        ("updateConversationStatus", {"conversation_id": "c1", "status": "closed"}, "conversation.status"),
    ]
    for index, (action, data, event) in enumerate(actions):
        ref = f"req-{index}"
        await alice1.send({"type": action, "id": ref, "data": data})
        delivered = await alice1.until(lambda: any(f.get("ref") == ref and f["type"] == "reply" for f in alice1.frames))
        delivered = delivered and all([await tab.until(lambda tab=tab: len(tab.of_type(event)) >= 1) for tab in tabs])
        await asyncio.sleep(0.3)  # anything extra would arrive now
        check(delivered, f"{action}: sender got a reply, every tab got {event}")
        order = [f["type"] for f in alice1.frames if f.get("ref") == ref or f["type"] == event]
        check(order[:1] == ["ack"], f"{action}: the sender's ack came first ({order})")
        check(all(len(tab.of_type(event)) == 1 for tab in tabs), f"{action}: {event} exactly once on each of 3 tabs on 2 nodes")
        check(all("offset" in tab.of_type(event)[0] for tab in tabs if tab.of_type(event)), f"{action}: {event} carries its history offset")
        reply = next((f for f in alice1.frames if f.get("ref") == ref and f["type"] == "reply"), {})
        check(reply.get("data", {}).get("ok") is True and reply.get("connection") == alice1.connection_id,
              f"{action}: the reply is addressed to the sender's connection")
        check(not any(f.get("type") == "reply" for tab in (alice2, bob) for f in tab.frames), f"{action}: no other tab saw the reply")
    message = alice2.of_type("message.new")[0]["data"] if alice2.of_type("message.new") else {}
    check(message.get("text") == "hello from the inbox" and message.get("author") == "alice", "message.new carries the stored message")
    check(stranger.frames == [], "another account's tab got nothing")
    for tab in tabs + [stranger]:
        await tab.close()
    worker.kill()
    worker.wait()


async def crash_mid_batch(cluster: Cluster, redis_url: str, ports: list[int]) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    watcher = await Tab(ports[1], "acme", "watcher").open()
    senders = [await Tab(ports[i % 2], "acme", f"agent{i}").open() for i in range(3)]
    await asyncio.sleep(0.3)
    total = 45
    for index in range(total):
        await senders[index % 3].send({"type": "sendMessage", "id": f"k{index}",
                                       "data": {"conversation_id": "c2", "text": f"m{index}", "client_message_id": f"k{index}"}})
    acked = await asyncio.gather(*[tab.until(lambda tab=tab: len(tab.of_type("ack")) >= total // 3) for tab in senders])
    check(all(acked), f"all {total} messages acked (in the stream) before any worker runs")

    first = cluster.worker("--redis-url", redis_url, "--consumer", "doomed", "--batch", "20", "--process-delay-ms", "150")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(watcher.of_type("message.new")) < 3:
        await asyncio.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    pending = client.xpending("herald:upstream", "inbox-workers")
    check(pending["pending"] > 0, f"the killed worker left {pending['pending']} entries read but not acked")

    second = cluster.worker("--redis-url", redis_url, "--consumer", "rescuer", "--claim-idle-ms", "500", "--claim-every", "0.5")
    await watcher.until(lambda: len({e["data"]["client_message_id"] for e in watcher.of_type("message.new")
                                     if e["data"].get("conversation_id") == "c2"}) >= total, seconds=30)
    delivered = [e["data"]["client_message_id"] for e in watcher.of_type("message.new") if e["data"].get("conversation_id") == "c2"]
    missing = {f"k{i}" for i in range(total)} - set(delivered)
    check(not missing, f"zero lost: {total - len(missing)}/{total} delivered ({len(delivered) - len(set(delivered))} duplicates, at-least-once)")
    drained = False
    for _ in range(100):
        if client.xpending("herald:upstream", "inbox-workers")["pending"] == 0:
            drained = True
            break
        await asyncio.sleep(0.1)
    check(drained, "nothing left pending")
    second.kill()
    second.wait()
    check("claimed" in Cluster.output(second), "the second worker claimed the dead worker's entries (XAUTOCLAIM)")
    for tab in senders + [watcher]:
        await tab.close()


async def http_mode(cluster: Cluster) -> None:
    worker_port = free_port()
    node_port = free_port()
    env = dict(os.environ, HERALD_LISTEN=f"127.0.0.1:{node_port}", HERALD_JWT_SECRET=JWT_SECRET, HERALD_API_KEYS=API_KEY,
               HERALD_LOG_LEVEL="error", HERALD_UPSTREAM_URL=f"http://127.0.0.1:{worker_port}/upstream",
               HERALD_UPSTREAM_SECRET=UPSTREAM_SECRET)
    env.pop("HERALD_REDIS_URL", None)
    cluster.processes.append(subprocess.Popen([cluster.edge_node, "serve"], env=env))
    cluster.worker("--http", f"127.0.0.1:{worker_port}", "--secret", UPSTREAM_SECRET, "--herald-url", f"http://127.0.0.1:{node_port}",
                   "--api-key", API_KEY)
    wait_ready(node_port)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", worker_port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    sender = await Tab(node_port, "acme", "alice").open()
    other = await Tab(node_port, "acme", "bob").open()
    await sender.send({"type": "sendMessage", "id": 1, "data": {"conversation_id": "c9", "text": "over http"}})
    replied = await sender.until(lambda: any(f["type"] == "reply" and f.get("ref") == 1 for f in sender.frames))
    delivered = await other.until(lambda: len(other.of_type("message.new")) == 1)
    check(replied and delivered, "http mode (embedded broker): reply to the sender, message.new to the account")
    await sender.close()
    await other.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--edge-node", default=os.path.join(ROOT, ".build", "debug", "edge-node"))
    args = parser.parse_args()
    cluster = Cluster(args.edge_node)
    try:
        redis_url = cluster.redis()
        ports = [cluster.node(HERALD_REDIS_URL=redis_url), cluster.node(HERALD_REDIS_URL=redis_url)]
        await asyncio.wait_for(inbox_flow(cluster, redis_url, ports), 60)
        await asyncio.wait_for(crash_mid_batch(cluster, redis_url, ports), 90)
        await asyncio.wait_for(http_mode(cluster), 60)
    finally:
        cluster.close()
    print(f"{results['passed']} passed, {results['failed']} failed")
    sys.exit(0 if results["failed"] == 0 else 1)


if __name__ == "__main__":
    asyncio.run(main())
