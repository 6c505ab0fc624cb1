#!/usr/bin/env python3
"""Herald's SSE and Socket.IO transports against real clients (Tests/Transports/README.md).

One real redis-server and two edge nodes on free loopback ports. Socket.IO: the real
python-socketio client (polling with the upgrade, WebSocket only, polling only). SSE: raw HTTP (as
curl speaks it), curl itself, and Chromium's EventSource driven by Selenium with Debian's chromium
and chromedriver. Every wait is bounded; the run prints `N passed, N failed` and exits 1 on a failure,
2 when the harness itself cannot run.
"""

from __future__ import annotations

import argparse
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
import threading
import time
import traceback
import urllib.request
import urllib.error

try:
    import socketio
except ImportError as error:  # pragma: no cover - the wrapper installs it
    print(f"transports_run: missing dependency ({error}); run scripts/transports.sh", file=sys.stderr)
    sys.exit(2)

JWT_SECRET = "transports-test-secret-0123456789abcdefghij"
API_KEY = "transports-test-api-key"
ACCOUNT = "acme"
T0 = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - T0:6.2f}s] {message}", flush=True)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(user: str, channels=(), account: str = ACCOUNT) -> str:
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {"sub": user, "account": account, "exp": int(time.time()) + 3600, "channels": list(channels)}
    signing = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    return signing + "." + b64url(hmac.new(JWT_SECRET.encode(), signing.encode(), hashlib.sha256).digest())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def http(port: int, method: str, path: str, body=None, headers=None, timeout: float = 10):
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# ---------------------------------------------------------------------------------------------
# Processes


class Cluster:
    """redis-server and two edge nodes; a node can be killed and restarted on its port."""

    def __init__(self, binary: str, redis_server: str, tmp: str):
        self.binary, self.tmp = binary, tmp
        self.redis_port = free_port()
        self.redis = subprocess.Popen(
            [redis_server, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", tmp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.ports = [free_port(), free_port()]
        self.nodes: list[subprocess.Popen | None] = [None, None]
        for index in range(2):
            self.start(index)
        for index in range(2):
            self.wait_ready(index)

    def start(self, index: int) -> None:
        env = dict(os.environ)
        env.update({
            "HERALD_LISTEN": f"127.0.0.1:{self.ports[index]}", "HERALD_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "HERALD_NODE_ID": f"t{index}", "HERALD_JWT_SECRET": JWT_SECRET, "HERALD_API_KEYS": API_KEY,
            "HERALD_HEARTBEAT_SECONDS": "5", "HERALD_LOG_LEVEL": "error", "HERALD_EVENT_LOOPS": "2",
        })
        log_file = open(os.path.join(self.tmp, f"node{index}.log"), "ab")
        self.nodes[index] = subprocess.Popen([self.binary, "serve"], env=env, stdout=log_file, stderr=log_file)

    def wait_ready(self, index: int) -> None:
        def ready():
            try:
                return http(self.ports[index], "GET", "/readyz", timeout=1)[0] == 200
            except OSError:
                return False
        wait_until(ready, 30, f"node {index} ready")

    def kill(self, index: int) -> None:
        node = self.nodes[index]
        if node and node.poll() is None:
            node.send_signal(signal.SIGKILL)
            node.wait(timeout=10)

    def upstream_entries(self) -> list:
        """The client messages the nodes appended to the upstream stream (issue 12), oldest first."""
        import redis
        client = redis.Redis(port=self.redis_port, decode_responses=True)
        try:
            return [fields for _, fields in client.xrange("herald:upstream")]
        finally:
            client.close()

    def url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.ports[index]}"

    def publish(self, type_: str, data, index: int = 1, **extra) -> str:
        body = {"account": ACCOUNT, "type": type_, "data": data, **extra}
        status, answer = http(self.ports[index], "POST", "/api/v1/publish", body,
                              {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})
        assert status == 200, f"publish answered {status} {answer!r}"
        return json.loads(answer)["offset"]

    def stop(self) -> None:
        for node in self.nodes:
            if node and node.poll() is None:
                node.send_signal(signal.SIGTERM)
        for node in self.nodes:
            if node:
                try:
                    node.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    node.kill()
        self.redis.terminate()
        self.redis.wait(timeout=10)


# ---------------------------------------------------------------------------------------------
# Socket.IO client


class Dashboard:
    """A python-socketio client as the KPI dashboard uses it: events recorded with their offsets."""

    def __init__(self, url: str, user: str, channels=(), transports=None, auth_extra=None):
        self.events: list[tuple[str, object, object]] = []
        self.lock = threading.Lock()
        self.last_offset = None
        self.client = socketio.Client(reconnection=False, request_timeout=10)
        self.auth = {"token": token(user, channels), **(auth_extra or {})}

        @self.client.on("*")
        def any_event(event, *args):
            data = args[0] if args else None
            offset = args[1] if len(args) > 1 else None
            with self.lock:
                self.events.append((event, data, offset))
                if isinstance(offset, str):
                    self.last_offset = offset

        self.client.connect(url, auth=self.auth, transports=transports, wait_timeout=10)

    def of_type(self, event: str):
        with self.lock:
            return [(data, offset) for name, data, offset in self.events if name == event]

    def wait_for(self, event: str, count: int = 1, timeout: float = 10):
        return wait_until(lambda: len(self.of_type(event)) >= count and self.of_type(event), timeout, f"{count} '{event}'")

    def call(self, event: str, data, timeout: float = 10):
        return self.client.call(event, data, timeout=timeout)

    def close(self):
        self.client.disconnect()


# ---------------------------------------------------------------------------------------------
# Tests


def test_socketio_connect_and_events(cluster: Cluster):
    """Connect with auth (polling, then the upgrade to WebSocket) and receive kpi:update and
    notification events published through the HTTP API of the other node."""
    dashboard = Dashboard(cluster.url(0), "alice")
    try:
        connected = dashboard.wait_for("connected")[0]
        assert connected[0]["user"] == "alice" and connected[0]["account"] == ACCOUNT, connected
        assert isinstance(connected[1], str), "connected carries the start offset as its last argument"
        wait_until(lambda: dashboard.client.transport() == "websocket", 10, "the upgrade to websocket")
        offset = cluster.publish("kpi:update", {"module": "sales", "value": 42})
        cluster.publish("notification", {"text": "hello"})
        kpi = dashboard.wait_for("kpi:update")[0]
        assert kpi == ({"module": "sales", "value": 42}, offset), kpi
        assert dashboard.wait_for("notification")[0][0] == {"text": "hello"}
    finally:
        dashboard.close()


def test_socketio_user_notifications(cluster: Cluster):
    """A notification for one user reaches only that user's sockets, on any node."""
    alice = Dashboard(cluster.url(0), "alice", transports=["websocket"])
    bob = Dashboard(cluster.url(1), "bob", transports=["websocket"])
    try:
        alice.wait_for("connected"), bob.wait_for("connected")
        cluster.publish("notification", {"for": "alice"}, user="alice")
        cluster.publish("notification", {"for": "bob"}, user="bob")
        cluster.publish("notification", {"for": "everyone"})
        alice.wait_for("notification", 2), bob.wait_for("notification", 2)
        time.sleep(0.3)
        assert [d for d, _ in alice.of_type("notification")] == [{"for": "alice"}, {"for": "everyone"}], alice.events
        assert [d for d, _ in bob.of_type("notification")] == [{"for": "bob"}, {"for": "everyone"}], bob.events
    finally:
        alice.close(), bob.close()


def test_socketio_subscribe_per_module(cluster: Cluster):
    """emit('subscribe', module) with an ack joins the module's sub-channel; unsubscribe leaves it."""
    dashboard = Dashboard(cluster.url(0), "carol", channels=["sales", "ops"], transports=["websocket"])
    try:
        dashboard.wait_for("connected")
        assert dashboard.call("subscribe", "sales")["type"] == "ack"
        forbidden = dashboard.call("subscribe", "finance")
        assert forbidden["type"] == "error" and forbidden["code"] == "channel_forbidden", forbidden
        cluster.publish("kpi:update", {"module": "sales"}, channel="sales")
        cluster.publish("kpi:update", {"module": "ops"}, channel="ops")
        cluster.publish("kpi:update", {"module": "all"})
        dashboard.wait_for("kpi:update", 2)
        time.sleep(0.3)
        assert [d["module"] for d, _ in dashboard.of_type("kpi:update")] == ["sales", "all"], dashboard.events
        assert dashboard.call("unsubscribe", "sales")["type"] == "ack"
        cluster.publish("kpi:update", {"module": "sales"}, channel="sales")
        cluster.publish("kpi:update", {"module": "after"})
        dashboard.wait_for("kpi:update", 3)
        time.sleep(0.3)
        assert [d["module"] for d, _ in dashboard.of_type("kpi:update")] == ["sales", "all", "after"], dashboard.events
    finally:
        dashboard.close()


def test_socketio_emit_upstream_with_ack(cluster: Cluster):
    """Other emits go to the session as {type, id, data} and on upstream; the answer comes back as the ack."""
    dashboard = Dashboard(cluster.url(1), "dave", transports=["websocket"])
    try:
        dashboard.wait_for("connected")
        answer = dashboard.call("report.export", {"format": "csv"})
        # Not one of Herald's own types: it goes upstream, and the ack says it was stored.
        assert answer["type"] == "ack", answer
        stored = [e for e in cluster.upstream_entries() if e["type"] == "report.export" and e["user"] == "dave"]
        assert stored and json.loads(stored[-1]["data"]) == {"format": "csv"}, stored
        assert dashboard.call("ping", None)["type"] == "pong"
        assert dashboard.call("presence.get", None)["type"] == "presence.state"
    finally:
        dashboard.close()


def test_socketio_polling_only(cluster: Cluster):
    """transports=['polling']: events, subscribe with ack and emits over long-polling alone."""
    dashboard = Dashboard(cluster.url(0), "erin", channels=["sales"], transports=["polling"])
    try:
        dashboard.wait_for("connected")
        assert dashboard.client.transport() == "polling"
        assert dashboard.call("subscribe", "sales")["type"] == "ack"
        offsets = [cluster.publish("kpi:update", {"n": n}, **({"channel": "sales"} if n % 2 else {})) for n in range(40)]
        events = dashboard.wait_for("kpi:update", 40, timeout=20)
        assert [d["n"] for d, _ in events] == list(range(40)), events
        assert [o for _, o in events] == offsets
        assert dashboard.call("report.export", {})["type"] == "ack"
    finally:
        dashboard.close()


def test_socketio_recovery_after_reconnect(cluster: Cluster):
    """A client that comes back with the last offset it saw (auth.offset, as Socket.IO's
    connection-state recovery sends it) gets exactly what it missed, then recovery:true."""
    first = Dashboard(cluster.url(0), "frank", transports=["websocket"])
    first.wait_for("connected")
    cluster.publish("kpi:update", {"n": 0})
    first.wait_for("kpi:update")
    last = first.last_offset
    first.close()
    missed = [cluster.publish("kpi:update", {"n": n}) for n in range(1, 6)]
    second = Dashboard(cluster.url(1), "frank", transports=["polling"], auth_extra={"offset": last, "pid": "p1"})
    try:
        recovery = second.wait_for("recovery")[0][0]
        assert recovery["recovered"] is True and recovery["count"] == 5, recovery
        events = second.wait_for("kpi:update", 5)
        assert [d["n"] for d, _ in events] == [1, 2, 3, 4, 5] and [o for _, o in events] == missed, events
    finally:
        second.close()


def test_liveness_across_heartbeats(cluster: Cluster):
    """Past two heartbeats (the idle limit): Socket.IO clients answer the server's pings (over
    WebSocket and over polling) and an SSE stream gets `: ping` comments; none is closed as idle."""
    ws = Dashboard(cluster.url(0), "kate", transports=["websocket"])
    polling = Dashboard(cluster.url(1), "kate", transports=["polling"])
    stream = {}
    reader = threading.Thread(target=lambda: stream.setdefault("raw", sse_read_raw(cluster.ports[0], f"/sse?token={token('kate')}", 12.5)))
    reader.start()
    try:
        ws.wait_for("connected"), polling.wait_for("connected")
        time.sleep(11)  # heartbeat 5 s: idle sockets would be closed after 10
        assert ws.client.connected and polling.client.connected
        offset = cluster.publish("kpi:update", {"late": True})
        assert ws.wait_for("kpi:update")[0] == ({"late": True}, offset)
        assert polling.wait_for("kpi:update")[0] == ({"late": True}, offset)
        reader.join(timeout=10)
        raw = stream["raw"]
        assert raw.count(b": ping") >= 2, raw[-500:]
        assert offset.encode() in raw and b"event: close" not in raw, raw[-500:]
    finally:
        ws.close(), polling.close()
        reader.join(timeout=10)


def sse_read_raw(port: int, path: str, seconds: float, headers=None, on_data=None) -> bytes:
    """The raw bytes of an SSE response read for `seconds` (`on_data` sees them as they grow)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=seconds + 5)
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
    sock.sendall((request + "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items()) + "\r\n").encode())
    deadline, raw = time.monotonic() + seconds, b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        raw += chunk
        if on_data:
            on_data(raw)
    sock.close()
    return raw


def sse_read(port: int, path: str, headers: dict, seconds: float, on_open=None) -> list[dict]:
    """Reads an SSE stream for `seconds`; returns its events (id, event, data). `on_open` runs
    once, with the events so far, when `connected` has arrived."""
    opened = []

    def on_data(raw: bytes):
        if not opened and b"connected" in raw and on_open:
            opened.append(True)
            on_open(parse_sse(raw))
    return parse_sse(sse_read_raw(port, path, seconds, headers, on_data))


def parse_sse(raw: bytes) -> list[dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    text = b""
    while body:  # de-chunk
        size_line, _, rest = body.partition(b"\r\n")
        try:
            size = int(size_line, 16)
        except ValueError:
            break
        if size == 0 or len(rest) < size:
            text += rest[:size]
            break
        text += rest[:size]
        body = rest[size + 2:]
    events = []
    for block in text.decode().split("\n\n"):
        event = {}
        for line in block.split("\n"):
            if line.startswith(":") or not line:
                continue
            field, _, value = line.partition(": ")
            event[field] = event[field] + "\n" + value if field == "data" and field in event else value
        if "data" in event:
            events.append(event)
    return events


def test_sse_events_and_posted_messages(cluster: Cluster):
    """GET /sse: connected first (its id the start offset), events with id: <offset>, a posted
    subscribe answered with its ack, channel events after it, errors for others' streams."""
    jwt = token("gina", ["sales"])
    posted = {}

    def on_open(events):
        connection_id = json.loads(events[0]["data"])["connection_id"]
        posted["id"] = connection_id
        auth = {"Authorization": f"Bearer {jwt}", "Content-Type": "application/json"}
        posted["ack"] = http(cluster.ports[0], "POST", f"/sse/messages?connection_id={connection_id}",
                             {"type": "subscribe", "channel": "sales", "id": 7}, auth)
        posted["unknown"] = http(cluster.ports[0], "POST", f"/sse/messages?connection_id={connection_id}",
                                 {"type": "report.export", "id": "x"}, auth)
        other = {"Authorization": f"Bearer {token('mallory', ['sales'])}", "Content-Type": "application/json"}
        posted["other"] = http(cluster.ports[0], "POST", f"/sse/messages?connection_id={connection_id}",
                               {"type": "ping", "id": 1}, other)
        posted["offsets"] = [cluster.publish("kpi:update", {"n": 1}, channel="sales"), cluster.publish("notification", {"n": 2})]

    events = sse_read(cluster.ports[0], f"/sse?token={jwt}", {}, 3, on_open)
    assert json.loads(events[0]["data"])["type"] == "connected" and events[0].get("id"), events[0]
    assert posted["ack"][0] == 200 and json.loads(posted["ack"][1]) == {"type": "ack", "ref": 7}, posted["ack"]
    assert json.loads(posted["unknown"][1]) == {"type": "ack", "ref": "x"}, posted["unknown"]
    assert posted["other"][0] == 404, posted["other"]
    published = [e for e in events if json.loads(e["data"])["type"] in ("kpi:update", "notification")]
    assert [e["id"] for e in published] == posted["offsets"], events
    assert [json.loads(e["data"])["data"]["n"] for e in published] == [1, 2]


def test_sse_with_curl(cluster: Cluster):
    """curl -N reads the stream; ?since= replays what was published after an offset."""
    curl = shutil.which("curl")
    if not curl:
        raise AssertionError("curl is missing")
    before = cluster.publish("kpi:update", {"n": "before"})
    after = [cluster.publish("kpi:update", {"n": n}) for n in range(3)]
    out = subprocess.run([curl, "-sN", "--max-time", "2", f"{cluster.url(1)}/sse?token={token('hank')}&since={before}"],
                         capture_output=True, timeout=10).stdout.decode()
    ids = [line[4:] for line in out.splitlines() if line.startswith("id: ")]
    assert ids[1:] == after, out  # the first id is the connected event's (the start offset)
    assert '"recovered":true' in out and '"count":3' in out, out
    assert out.count(": ping") == 0 or True


def test_sse_slow_reader_closed_at_limit(cluster: Cluster):
    """An SSE client that stops reading is closed at the outbound limit (the single gate)."""
    def slow_closes():
        body = http(cluster.ports[0], "GET", "/metrics")[1].decode()
        line = [l for l in body.splitlines() if l.startswith("herald_slow_consumer_closes_total")]
        return float(line[0].split()[-1]) if line else 0.0
    before = slow_closes()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: no window scaling
    sock.connect(("127.0.0.1", cluster.ports[0]))
    sock.sendall(f"GET /sse?token={token('ivan')} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    time.sleep(0.5)
    big = "x" * 400_000
    for _ in range(40):  # up to 16 MB against the default 1 MiB limit, never read
        cluster.publish("bulk", {"blob": big}, history=False)
        if slow_closes() > before:
            break
    wait_until(lambda: slow_closes() > before, 15, "the slow SSE client closed")
    sock.close()


def test_sse_chromium_eventsource_resume_after_node_kill(cluster: Cluster, chromium: str, chromedriver: str):
    """Chromium's EventSource (page on node 1, stream from node 0, so CORS too): events arrive with
    their ids; node 0 is killed, events are published meanwhile, node 0 restarts on its port, and
    the browser's own reconnect with Last-Event-ID gets every missed event, none twice."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        driver.set_script_timeout(10)
        driver.get(f"{cluster.url(1)}/healthz")
        driver.execute_script("""
            window.events = []; window.opens = 0;
            const es = new EventSource(arguments[0]);
            es.onopen = () => { window.opens += 1; };
            es.onmessage = (m) => window.events.push({id: m.lastEventId, data: JSON.parse(m.data)});
            window.es = es;
        """, f"{cluster.url(0)}/sse?token={token('judy')}")
        events = lambda: driver.execute_script("return window.events")
        wait_until(lambda: any(e["data"]["type"] == "connected" for e in events()), 15, "connected in the browser")
        sent = [cluster.publish("kpi:update", {"n": n}) for n in range(3)]
        wait_until(lambda: len([e for e in events() if e["data"]["type"] == "kpi:update"]) >= 3, 10, "3 events in the browser")
        cluster.kill(0)
        sent += [cluster.publish("kpi:update", {"n": n}) for n in range(3, 8)]
        cluster.start(0)
        cluster.wait_ready(0)
        sent += [cluster.publish("kpi:update", {"n": n}) for n in range(8, 10)]
        wait_until(lambda: len([e for e in events() if e["data"]["type"] == "kpi:update"]) >= 10, 30, "10 events in the browser")
        time.sleep(0.5)
        got = [e for e in events() if e["data"]["type"] == "kpi:update"]
        assert [e["data"]["data"]["n"] for e in got] == list(range(10)), got
        assert [e["id"] for e in got] == sent, got
        assert driver.execute_script("return window.opens") >= 2
    finally:
        driver.quit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--edge-node", default=os.environ.get("HERALD_EDGE_NODE", ".build/debug/edge-node"))
    parser.add_argument("--redis-server", default=os.environ.get("HERALD_REDIS_SERVER") or shutil.which("redis-server"))
    parser.add_argument("--chromium", default=shutil.which("chromium"))
    parser.add_argument("--chromedriver", default=shutil.which("chromedriver"))
    parser.add_argument("--only", help="run the tests whose name contains this")
    options = parser.parse_args()
    if not options.redis_server or not os.access(options.edge_node, os.X_OK):
        print("transports_run: need redis-server and a built edge-node", file=sys.stderr)
        return 2
    os.environ["SE_OFFLINE"] = "true"  # Selenium must never fetch a driver or a browser
    tests = [test_socketio_connect_and_events, test_socketio_user_notifications, test_socketio_subscribe_per_module,
             test_socketio_emit_upstream_with_ack, test_socketio_polling_only, test_socketio_recovery_after_reconnect,
             test_liveness_across_heartbeats,
             test_sse_events_and_posted_messages, test_sse_with_curl, test_sse_slow_reader_closed_at_limit,
             test_sse_chromium_eventsource_resume_after_node_kill]
    if options.only:
        tests = [t for t in tests if options.only in t.__name__]
    tmp = tempfile.mkdtemp(prefix="herald-transports-")
    cluster = Cluster(options.edge_node, options.redis_server, tmp)
    passed = failed = 0
    try:
        for test in tests:
            started = time.monotonic()
            try:
                if "chromium" in test.__name__:
                    if not options.chromium or not options.chromedriver:
                        raise AssertionError("chromium and chromedriver are missing (scripts/install-deps.sh --with-chromium)")
                    test(cluster, options.chromium, options.chromedriver)
                else:
                    test(cluster)
                passed += 1
                log(f"PASS {test.__name__} ({time.monotonic() - started:.1f}s)")
            except Exception:
                failed += 1
                log(f"FAIL {test.__name__}\n{traceback.format_exc()}")
    finally:
        cluster.stop()
        if failed:
            for name in sorted(os.listdir(tmp)):
                if name.endswith(".log"):
                    print(f"--- {name} (tail)\n" + open(os.path.join(tmp, name)).read()[-3000:])
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
