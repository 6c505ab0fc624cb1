#!/usr/bin/env python3
"""herald.js in real Chromium against real edge nodes, Redis and HAProxy (Tests/Browser/README.md).

Starts a local cluster (deploy/local/cluster.sh: Redis, 3 edge nodes, HAProxy, all on free loopback
ports in a temporary state folder), a static server for the pages (examples/serve.py, which also
mints tokens), a TCP relay that can cut the browser's connections ("the network went away"), and
headless Chromium through Selenium (Debian's chromium and chromedriver, given by path: nothing is
downloaded). Then each test drives pages and checks what herald.js did. Everything it started is
stopped at the end; every wait is bounded.

Exit status: 0 every test passed (or was skipped), 1 a test failed, 2 the harness could not run.
"""
import argparse
import asyncio
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PAGES = Path(__file__).resolve().parent / "pages"
SECRET = "browser-test-secret-0123456789abcdef0123456789"
API_KEY = "browser-test-api-key"

_spec = importlib.util.spec_from_file_location("herald_examples_serve", REPO / "examples/serve.py")
serve = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(serve)


class Skip(Exception):
    """The server under test lacks a capability the test needs (said in the message)."""


class HarnessError(Exception):
    """Something the tests need could not be started."""


def log(message):
    print(f"[browser] {message}", flush=True)


def wait_until(what, predicate, timeout=10.0, interval=0.05):
    """Polls `predicate` until it returns a truthy value (returned); AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {str(last)[:300]})")


# ---------------------------------------------------------------------------------------------
# The cluster: deploy/local/cluster.sh in its own state folder


class Cluster:
    def __init__(self, edge_node: Path, state: Path):
        self.state = state
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
        self.env.update({
            "HERALD_CLUSTER_STATE": str(state),
            "HERALD_CLUSTER_PORT": str(free_port()),
            "HERALD_EDGE_NODE": str(edge_node),
            "HERALD_JWT_SECRET": SECRET,
            "HERALD_API_KEYS": API_KEY,
            "HERALD_CONSOLE": "true",
            "HERALD_CONSOLE_ROOT": str(REPO / "clients"),
            # Tokens of a few seconds expire on time (the expiry test); drains take 2 s.
            "HERALD_JWT_LEEWAY_SECONDS": "0",
            "HERALD_DRAIN_SECONDS": "2",
            "HERALD_LOG_LEVEL": "warning",
            "HERALD_EVENT_LOOPS": "2",
        })
        self.lb_port = int(self.env["HERALD_CLUSTER_PORT"])

    def run(self, *args, timeout=120):
        result = subprocess.run([str(REPO / "deploy/local/cluster.sh"), *args], env=self.env, cwd=REPO,
                                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise HarnessError(f"cluster.sh {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
        return result.stdout

    def up(self):
        self.run("up", "3", timeout=180)
        self.ws = f"ws://127.0.0.1:{self.lb_port}/ws"
        self.http = f"http://127.0.0.1:{self.lb_port}"
        self.redis_port = int((self.state / "redis.port").read_text().strip())

    def down(self):
        try:
            self.run("down", timeout=60)
        except Exception as error:  # already reported by the caller's failure, if any
            log(f"cluster down: {error}")

    def node_port(self, index):
        return int((self.state / f"node-{index}.port").read_text().strip())

    def live_nodes(self):
        live = []
        for index in (1, 2, 3):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.node_port(index)}/readyz", timeout=1) as response:
                    if response.status == 200:
                        live.append(index)
            except Exception:
                pass
        return live

    def wait_all_up(self):
        wait_until("3 ready nodes", lambda: len(self.live_nodes()) == 3, timeout=60, interval=0.2)
        # HAProxy marks a restarted server up after two good checks (0.5 s apart).
        wait_until("HAProxy to see 3 servers up", self.haproxy_all_up, timeout=15, interval=0.2)

    def haproxy_all_up(self):
        try:
            with urllib.request.urlopen(f"{self.http}/haproxy-stats;csv", timeout=1) as response:
                rows = response.read().decode().splitlines()
        except Exception:
            return False
        up = [r for r in rows if r.startswith("herald_accounts,node-") and r.split(",")[17] == "UP"]
        return len(up) == 3

    def publish(self, account, type, data, user=None, channel=None, node=None, history=True, extra=None):
        body = {"account": account, "type": type, "data": data, "history": history}
        if user is not None:
            body["user"] = user
        if channel is not None:
            body["channel"] = channel
        body.update(extra or {})
        # Straight to a node: a publish through HAProxy would leave an idle keep-alive connection
        # that HAProxy hands to the next browser's upgrade, which the node then answers 426 (an
        # upgrade is only taken as a connection's first request).
        base = f"http://127.0.0.1:{self.node_port(node or self.live_nodes()[0])}"
        request = urllib.request.Request(f"{base}/api/v1/publish", data=json.dumps(body).encode(), method="POST",
                                         headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise AssertionError(f"publish refused: {error.code} {error.read()[:300]!r}")

    def upstream_entries(self, count=50):
        """The newest entries of the upstream stream (issue 12), newest first."""
        import redis
        client = redis.Redis(host="127.0.0.1", port=self.redis_port, socket_timeout=5)
        try:
            return client.xrevrange("herald:upstream", count=count)
        finally:
            client.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# A TCP relay between the browser and HAProxy that can cut every connection and refuse new ones


class Cutter:
    def __init__(self, target_port):
        self.target_port = target_port
        self.offline = False
        self.pairs = set()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self):
        self.thread.start()
        server = asyncio.run_coroutine_threadsafe(asyncio.start_server(self.accept, "127.0.0.1", 0), self.loop).result(5)
        self.server = server
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def accept(self, reader, writer):
        if self.offline:
            writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, upstream_writer)
        self.pairs.add(pair)

        async def pump(source, sink):
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except Exception:
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(pump(reader, upstream_writer), pump(upstream_reader, writer))
        self.pairs.discard(pair)

    def go_offline(self):
        """Every relayed connection is reset and new ones are refused, like a lost network."""
        def cut():
            self.offline = True
            for a, b in list(self.pairs):
                a.transport.abort()
                b.transport.abort()
        self.loop.call_soon_threadsafe(cut)

    def go_online(self):
        self.loop.call_soon_threadsafe(lambda: setattr(self, "offline", False))

    def stop(self):
        def close():
            self.server.close()
            for a, b in list(self.pairs):
                a.transport.abort()
                b.transport.abort()
            self.loop.stop()
        self.loop.call_soon_threadsafe(close)
        self.thread.join(5)


# ---------------------------------------------------------------------------------------------
# Chromium


class Browser:
    def __init__(self, chromium, chromedriver):
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service

        options = Options()
        options.binary_location = chromium
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1000",
                     "--no-first-run", "--disable-extensions", "--disable-background-networking",
                     # Both tabs of a test run as if in front: no timer throttling of the background one.
                     "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                     "--disable-backgrounding-occluded-windows"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
        self.driver.set_script_timeout(30)
        self.first = self.driver.current_window_handle

    def tab(self, url):
        """Opens `url` in a new tab (the first call reuses the initial one)."""
        if self.first:
            handle, self.first = self.first, None
        else:
            self.driver.switch_to.new_window("tab")
            handle = self.driver.current_window_handle
        tab = Tab(self.driver, handle)
        self.driver.get(url)
        return tab

    def close_tabs(self):
        """Back to one blank tab between tests."""
        handles = self.driver.window_handles
        for handle in handles[1:]:
            self.driver.switch_to.window(handle)
            self.driver.close()
        self.driver.switch_to.window(handles[0])
        self.driver.get("about:blank")
        self.first = handles[0]

    def console_errors(self):
        try:
            return [entry["message"] for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]
        except Exception:
            return []

    def quit(self):
        self.driver.quit()


class Tab:
    def __init__(self, driver, handle):
        self.driver = driver
        self.handle = handle

    def js(self, code, *args):
        if self.driver.current_window_handle != self.handle:
            self.driver.switch_to.window(self.handle)
        return self.driver.execute_script(code, *args)

    def log(self, name):
        return self.js("return H.logs[arguments[0]]", name)

    def events(self, name, type=None):
        return [e for e in self.log(name)["events"] if type is None or e.get("type") == type]

    def status(self, name):
        return self.js("return H.clients[arguments[0]].status", name)

    def connection(self, name):
        return self.js("return H.clients[arguments[0]].connection", name)


# ---------------------------------------------------------------------------------------------
# The tests


class Suite:
    def __init__(self, cluster: Cluster, pages_url: str, browser: Browser, cutter: Cutter, screenshot: Path | None):
        self.cluster = cluster
        self.pages = pages_url
        self.browser = browser
        self.cutter = cutter
        self.screenshot = screenshot
        self._upstream = None

    # helpers

    def harness(self):
        tab = self.browser.tab(f"{self.pages}/tests/harness.html")
        wait_until("the harness page", lambda: tab.js("return window.H && window.H.ready"), timeout=10)
        return tab

    def client(self, tab, name, via=None, **options):
        """A client on `tab`; via="cutter" routes it through the relay the test can cut."""
        url = f"ws://127.0.0.1:{self.cutter.port}/ws" if via == "cutter" else self.cluster.ws
        tab.js("H.make(arguments[0], arguments[1])", name, {"url": url, **options})

    def connected(self, tab, name, timeout=10):
        tab.js("H.clients[arguments[0]].connect()", name)
        return wait_until(f"{name} to connect", lambda: tab.status(name) == "connected" and tab.connection(name), timeout=timeout)

    def seqs(self, tab, name, type="seq"):
        return [e["data"]["n"] for e in tab.events(name, type)]

    def upstream(self, tab, name):
        """Whether the nodes carry client messages upstream (issue 12): a probe is acked, else
        answered unknown_type. Asked once."""
        if self._upstream is None:
            tab.js("H.track(arguments[0], 'probe', H.clients[arguments[0]].send('herald.probe', {}))", name)
            result = wait_until("the upstream probe's answer", lambda: tab.log(name)["results"].get("probe"), timeout=10)
            self._upstream = result["ok"]
            log(f"upstream messages: {'supported (ack)' if result['ok'] else 'not on these nodes (' + str(result.get('code')) + ')'}")
        return self._upstream

    def node_index(self, node_id):
        assert node_id.startswith("node-"), node_id
        return int(node_id.removeprefix("node-"))

    def other_node(self, index):
        return next(i for i in (1, 2, 3) if i != index)

    # tests

    def test_connect_and_receive(self):
        """Connects through HAProxy and receives broadcast, user- and channel-targeted events, in
        order, each with its offset; nothing meant for others."""
        tab = self.harness()
        self.client(tab, "a", account="t-recv", user="alice", channels=["inbox"])
        info = self.connected(tab, "a")
        assert info["account"] == "t-recv" and info["user"] == "alice" and info["offset"], info
        sent = [
            ("seq", {"n": 1}, None, None),
            ("seq", {"n": 2}, "alice", None),
            ("other", {"n": 3}, "bob", None),
            ("seq", {"n": 4}, None, "inbox"),
            ("other", {"n": 5}, None, "kpi"),
            ("seq", {"n": 6}, None, None),
        ]
        for type, data, user, channel in sent:
            self.cluster.publish("t-recv", type, data, user=user, channel=channel)
        wait_until("events 1, 2, 4, 6", lambda: self.seqs(tab, "a") == [1, 2, 4, 6], timeout=10)
        time.sleep(0.3)
        events = [e for e in tab.events("a") if not e["type"].startswith("presence.")]
        assert [e["type"] for e in events] == ["connected", "seq", "seq", "seq", "seq"], [e["type"] for e in events]
        assert all(e.get("offset") for e in events[1:]), events
        statuses = [s["status"] for s in tab.log("a")["statuses"]]
        assert statuses == ["connecting", "connected"], statuses

    def test_failover_after_sigkill(self):
        """The client's node is SIGKILLed: herald.js reconnects through HAProxy to another node and
        recovers every event published meanwhile — a connect-time sub-channel and one subscribed
        later included — exactly once and in order."""
        tab = self.harness()
        self.client(tab, "f", account="t-kill", channels=["inbox"], options={"backoff": {"min": 300, "max": 2000}})
        info = self.connected(tab, "f")
        tab.js("H.track('f', 'kpi', H.clients.f.subscribe('kpi'))")
        wait_until("subscribe('kpi') to resolve", lambda: (tab.log("f")["results"].get("kpi") or {}).get("ok"), timeout=10)
        killed = self.node_index(info["node"])
        survivor = self.other_node(killed)
        channels = [None, "inbox", "kpi"]
        for n in range(1, 6):
            self.cluster.publish("t-kill", "seq", {"n": n}, channel=channels[n % 3], node=survivor)
        wait_until("events 1-5", lambda: self.seqs(tab, "f") == list(range(1, 6)), timeout=10)
        self.cluster.run("kill-node", str(killed))
        for n in range(6, 21):
            self.cluster.publish("t-kill", "seq", {"n": n}, channel=channels[n % 3], node=survivor)
            time.sleep(0.05)
        wait_until("events 1-20 after the failover", lambda: len(self.seqs(tab, "f")) >= 20, timeout=20)
        time.sleep(0.5)
        assert self.seqs(tab, "f") == list(range(1, 21)), self.seqs(tab, "f")
        after = tab.connection("f")
        assert after["node"] != info["node"], (info["node"], after["node"])
        statuses = [s["status"] for s in tab.log("f")["statuses"]]
        assert "reconnecting" in statuses and statuses[-1] == "connected", statuses
        assert tab.log("f")["resyncs"] == [], tab.log("f")["resyncs"]
        recoveries = tab.events("f", "recovery")
        assert recoveries and all(r["recovered"] for r in recoveries), recoveries
        self.cluster.run("start-node", str(killed))
        self.cluster.wait_all_up()

    def test_drain_reconnects_at_once(self):
        """A node drains (SIGTERM, close 1012): the client reconnects at once, not after a
        backoff, and misses nothing."""
        tab = self.harness()
        # A long backoff: a reconnect that waited for it would be plain to see.
        self.client(tab, "d", account="t-drain", options={"backoff": {"min": 3000, "max": 3000}})
        info = self.connected(tab, "d")
        drained = self.node_index(info["node"])
        survivor = self.other_node(drained)
        self.cluster.publish("t-drain", "seq", {"n": 1}, node=survivor)
        wait_until("event 1", lambda: self.seqs(tab, "d") == [1], timeout=10)
        stopper = threading.Thread(target=self.cluster.run, args=("stop-node", str(drained)), daemon=True)
        stopper.start()

        def drain_status():
            return next((s for s in tab.log("d")["statuses"] if s.get("code") == 1012), None)
        closed = wait_until("the 1012 close", drain_status, timeout=10)
        assert closed["delay"] == 0, closed
        tokens = [t for t in tab.log("d")["tokens"] if t["at"] >= closed["at"]]
        assert tokens and tokens[0]["at"] - closed["at"] < 200, (closed, tokens)
        for n in range(2, 6):
            self.cluster.publish("t-drain", "seq", {"n": n}, node=survivor)
        wait_until("a connection to another node", lambda: tab.status("d") == "connected" and tab.connection("d")["node"] != info["node"], timeout=12)
        wait_until("events 1-5", lambda: self.seqs(tab, "d") == [1, 2, 3, 4, 5], timeout=10)
        stopper.join(30)
        self.cluster.run("start-node", str(drained))
        self.cluster.wait_all_up()

    def test_offline_queue_flushed_under_flood_limit(self):
        """200 actions queued while offline are sent after the reconnect, paced under the node's
        flood limit: each answered exactly once, no rate_limited, no 1008, and the events
        published while offline recovered."""
        tab = self.harness()
        self.client(tab, "q", via="cutter", account="t-queue", options={"backoff": {"min": 200, "max": 1000}})
        self.connected(tab, "q")
        upstream = self.upstream(tab, "q")
        self.cutter.go_offline()
        wait_until("the client to notice it is offline", lambda: tab.status("q") == "reconnecting", timeout=10)
        # With upstream (issue 12) the actions are the app's own messages; without it, Herald's own
        # acked messages (subscribe/unsubscribe with ids) go through the same queue and pacing.
        tab.js("""
            const c = H.clients.q, upstream = arguments[0];
            for (let i = 0; i < 200; i++) {
              const action = upstream ? c.send('markAsRead', { i })
                : c.command({ type: i % 2 ? 'unsubscribe' : 'subscribe', channel: 'queued' });
              H.track('q', 'a' + i, action);
            }""", upstream)
        for n in range(1, 6):
            self.cluster.publish("t-queue", "seq", {"n": n})
        assert tab.js("return H.clients.q._queue.length") == 200
        self.cutter.go_online()
        started = time.monotonic()
        wait_until("200 answers", lambda: len([k for k in tab.log("q")["results"] if k.startswith("a")]) == 200, timeout=40, interval=0.2)
        flushed = time.monotonic() - started
        time.sleep(0.5)
        results = {k: v for k, v in tab.log("q")["results"].items() if k.startswith("a")}
        bad = {k: v for k, v in results.items() if not v["ok"] or v["count"] != 1}
        assert not bad, f"{len(bad)} actions not acked exactly once: {list(bad.items())[:5]}"
        assert all(v["type"] == "ack" for v in results.values())
        closes = [s for s in tab.log("q")["statuses"] if s.get("code") == 1008]
        assert not closes, closes
        limited = [e for e in tab.log("q")["errors"] + tab.events("q", "error") if e.get("code") == "rate_limited"]
        assert not limited, limited
        assert self.seqs(tab, "q") == [1, 2, 3, 4, 5], self.seqs(tab, "q")
        log(f"  200 {'upstream messages' if upstream else 'subscribe/unsubscribe commands'} flushed in {flushed:.1f} s")

    def test_typing_seen_by_second_tab(self):
        """Tab A types; tab B sees typing.start once, then typing.stop about 3 s after the last
        keystroke; an explicit stopTyping reaches B at once."""
        a = self.harness()
        self.client(a, "a", account="t-typing", user="alice")
        self.connected(a, "a")
        b = self.harness()
        self.client(b, "b", account="t-typing", user="bob")
        self.connected(b, "b")
        a.js("""
            const c = H.clients.a; let n = 0;
            const timer = setInterval(() => { c.typing('c1'); H.logs.a.lastKey = Date.now(); if (++n === 10) clearInterval(timer); }, 150);""")
        start = wait_until("B to see alice typing", lambda: [t for t in b.log("b")["typing"] if t["users"] == ["alice"]], timeout=5)
        stop = wait_until("B to see alice stop", lambda: [t for t in b.log("b")["typing"] if t["conversationId"] == "c1" and t["users"] == []], timeout=8)
        last_key = a.js("return H.logs.a.lastKey")
        silence = (stop[0]["at"] - last_key) / 1000
        assert 2.5 <= silence <= 4.5, f"typing.stop came {silence:.2f} s after the last keystroke"
        starts = [e for e in b.events("b", "typing.start") if e["data"]["conversation_id"] == "c1"]
        assert len(starts) == 1, starts
        assert a.events("a", "typing.start") == [], "the typing user's own tabs do not get its typing events"
        a.js("H.clients.a.typing('c2')")
        wait_until("B to see alice typing in c2", lambda: b.js("return H.clients.b.typingUsers('c2')") == ["alice"], timeout=5)
        stopped_at = a.js("H.clients.a.stopTyping('c2'); return Date.now()")
        seen = wait_until("B to see the explicit stop", lambda: [t for t in b.log("b")["typing"] if t["conversationId"] == "c2" and t["users"] == []], timeout=3)
        assert seen[0]["at"] - stopped_at < 1000, seen

    def test_presence_across_tabs(self):
        """Two tabs of two users: each roster shows both (presence.get, then join); a tab closing
        leaves the other's roster; a reconnect refreshes the roster with presence.get."""
        a = self.harness()
        self.client(a, "a", via="cutter", account="t-presence", user="alice", options={"presence": True, "backoff": {"min": 200, "max": 1000}})
        self.connected(a, "a")
        wait_until("alice's roster", lambda: a.log("a")["presence"] == ["alice"], timeout=5)
        b = self.harness()
        self.client(b, "b", account="t-presence", user="bob", options={"presence": True})
        self.connected(b, "b")
        wait_until("bob's roster with both", lambda: b.log("b")["presence"] == ["alice", "bob"], timeout=5)
        wait_until("alice to see bob join", lambda: a.log("a")["presence"] == ["alice", "bob"], timeout=5)
        b.js("H.clients.b.disconnect()")
        wait_until("alice to see bob leave", lambda: a.log("a")["presence"] == ["alice"], timeout=5)
        # Alice goes offline; bob comes back meanwhile (a join she cannot see); her reconnect reads the roster again.
        self.cutter.go_offline()
        wait_until("alice offline", lambda: a.status("a") == "reconnecting", timeout=5)
        self.connected(b, "b")
        time.sleep(1.2)  # a node's roster may be up to 1 s old (docs/protocol.md): past that, bob must be in it
        self.cutter.go_online()
        wait_until("alice back", lambda: a.status("a") == "connected", timeout=10)
        wait_until("alice's roster refreshed with bob", lambda: a.log("a")["presence"] == ["alice", "bob"] or None, timeout=5)

    def test_token_refresh_and_expiry(self):
        """A 3 s token is refreshed on the open connection (same connection, several times); with
        refresh off, the node closes with 4003 at expiry and the client fetches a new token and
        resumes without missing events."""
        tab = self.harness()
        self.client(tab, "r", account="t-token", ttl=3)
        first = self.connected(tab, "r")
        time.sleep(7)
        log_r = tab.log("r")
        refreshed = [e for e in log_r["events"] if e["type"] == "refreshed"]
        assert len(refreshed) >= 2, (refreshed, log_r["debug"][-10:])
        assert tab.connection("r")["connection_id"] == first["connection_id"], "the connection was kept"
        assert [s for s in log_r["statuses"] if s.get("code") == 4003] == []
        assert [t["reason"] for t in log_r["tokens"]].count("refresh") >= 2, log_r["tokens"]
        tab.js("H.clients.r.disconnect()")

        self.client(tab, "x", account="t-token", ttl=3, options={"refreshBeforeExpiry": False})
        second = self.connected(tab, "x")
        stop = threading.Event()

        def publisher():
            n = 0
            while not stop.is_set() and n < 100:
                n += 1
                self.cluster.publish("t-token", "seq", {"n": n})
                time.sleep(0.1)
            return n
        thread = threading.Thread(target=publisher, daemon=True)
        thread.start()
        try:
            expired = wait_until("the 4003 close", lambda: next((s for s in tab.log("x")["statuses"] if s.get("code") == 4003), None), timeout=8)
            wait_until("a new connection", lambda: tab.status("x") == "connected" and tab.connection("x")["connection_id"] != second["connection_id"], timeout=5)
            time.sleep(0.5)
        finally:
            stop.set()
            thread.join(5)
        reasons = [t["reason"] for t in tab.log("x")["tokens"]]
        assert reasons[:2] == ["connect", "expired"], reasons
        assert expired["delay"] == 0, expired
        wait_until("every event published around the expiry", lambda: self.seqs(tab, "x") == list(range(1, max(self.seqs(tab, "x") or [0]) + 1)) and len(self.seqs(tab, "x")) > 10, timeout=5)
        tab.js("H.clients.x.disconnect()")

    def test_subchannel_recovery(self):
        """A sub-channel subscribed after connecting is joined again on the reconnect (in
        ?channels=) and its events published while offline are recovered; other channels' are not
        delivered."""
        tab = self.harness()
        self.client(tab, "s", via="cutter", account="t-sub", options={"backoff": {"min": 200, "max": 1000}})
        self.connected(tab, "s")
        tab.js("H.track('s', 'kpi', H.clients.s.subscribe('kpi'))")
        wait_until("subscribe('kpi')", lambda: (tab.log("s")["results"].get("kpi") or {}).get("ok"), timeout=5)
        self.cluster.publish("t-sub", "seq", {"n": 1}, channel="kpi")
        wait_until("event 1", lambda: self.seqs(tab, "s") == [1], timeout=5)
        self.cutter.go_offline()
        wait_until("offline", lambda: tab.status("s") == "reconnecting", timeout=5)
        self.cluster.publish("t-sub", "seq", {"n": 2}, channel="kpi")
        self.cluster.publish("t-sub", "seq", {"n": 99}, channel="ops")
        self.cluster.publish("t-sub", "seq", {"n": 3})
        self.cluster.publish("t-sub", "seq", {"n": 4}, channel="kpi")
        self.cutter.go_online()
        wait_until("events 1-4", lambda: self.seqs(tab, "s") == [1, 2, 3, 4], timeout=10)
        time.sleep(0.3)
        assert self.seqs(tab, "s") == [1, 2, 3, 4]
        connects = [line for line in tab.log("s")["debug"] if line.split(" ", 1)[1].startswith("connecting")]
        assert "channels=kpi" in connects[-1] and "since=" in connects[-1], connects[-1]
        recoveries = tab.events("s", "recovery")
        assert recoveries and recoveries[-1]["recovered"], recoveries

    def test_request_reply(self):
        """request() resolves with the backend's reply to this connection (issue 12's `connection`
        target); a send() is acked once stored upstream."""
        tab = self.harness()
        self.client(tab, "u", account="t-request")
        info = self.connected(tab, "u")
        if not self.upstream(tab, "u"):
            raise Skip("the nodes answer client messages with unknown_type: upstream (issue 12) has not landed")
        tab.js("H.track('u', 'dial', H.clients.u.request('dial', { number: '+331' }, { timeout: 10000 }))")

        def entry():
            return self._find_upstream(self.cluster.upstream_entries(), info["connection_id"], "dial")
        ref = wait_until("the request in the upstream stream", entry, timeout=10, interval=0.2)
        self.cluster.publish("t-request", "reply", {"ok": True, "number": "+331"}, history=False,
                             extra={"connection": info["connection_id"], "ref": ref})
        result = wait_until("the reply", lambda: tab.log("u")["results"].get("dial"), timeout=10)
        assert result["ok"] and result["type"] == "reply" and result["data"] == {"ok": True, "number": "+331"}, result

    @staticmethod
    def _find_upstream(entries, connection, type):
        """The client `id` of the newest upstream entry of `connection` and `type` (the stream
        keeps it as JSON text: docs/redis-schema.md)."""
        for _, fields in entries:
            fields = {k.decode(): v.decode() for k, v in fields.items()}
            if fields.get("connection") == connection and fields.get("type") == type and "id" in fields:
                return json.loads(fields["id"])
        return None

    def test_react_inbox_example(self):
        """The inbox example (React 18, useAccountWebSocket) runs against the nodes: conversations
        and messages appear live, and bob typing in his tab shows in alice's."""
        from selenium.webdriver.common.by import By
        url = f"{self.pages}/examples/react-inbox/?herald={self.cluster.ws}&account=t-react"
        alice = self.browser.tab(url + "&user=alice")
        text = lambda tab, testid: tab.js("return document.querySelector(`[data-testid=${arguments[0]}]`)?.textContent ?? ''", testid)
        wait_until("alice's inbox to connect", lambda: text(alice, "status") == "connected", timeout=10)
        bob = self.browser.tab(url + "&user=bob")
        wait_until("bob's inbox to connect", lambda: text(bob, "status") == "connected", timeout=10)
        self.cluster.publish("t-react", "conversation.new", {"id": "c1", "title": "Order #1"}, channel="inbox")
        self.cluster.publish("t-react", "message.new", {"conversation_id": "c1", "id": "m1", "author": "carol", "text": "hello"})
        wait_until("the conversation and message in alice's inbox",
                   lambda: "Order #1" in text(alice, "conversations") and "hello" in text(alice, "messages"), timeout=10)
        wait_until("bob's composer", lambda: bob.js("return !document.querySelector('[data-testid=composer]').disabled"), timeout=5)
        bob.js("return 1")  # focus bob's tab for the key presses
        bob.driver.find_element(By.CSS_SELECTOR, "[data-testid=composer]").send_keys("hi there")
        wait_until("alice to see bob typing", lambda: "bob is typing" in text(alice, "typing"), timeout=5)
        wait_until("the typing line to clear after 3 s", lambda: text(alice, "typing") == "", timeout=8)

    def test_console(self):
        """The node's /console connects with a token, shows events live, publishes through the API
        (key typed in), and shows presence and the node's metrics."""
        from selenium.webdriver.common.by import By
        token = serve.mint_token(SECRET, "t-console", "alice", ["*"], 600, {"name": "Alice"})
        tab = self.browser.tab(f"http://127.0.0.1:{self.cluster.node_port(1)}/console#token={token}&channels=inbox")
        text = lambda id: tab.js("return document.getElementById(arguments[0]).textContent", id)
        wait_until("the console to connect", lambda: text("status") == "connected", timeout=10)
        driver = tab.driver
        driver.find_element(By.ID, "apikey").send_keys(API_KEY)
        data = driver.find_element(By.ID, "data")
        data.clear()
        data.send_keys('{"id": 7, "text": "from the console"}')
        driver.find_element(By.ID, "publish").click()
        wait_until("the publish result", lambda: "offset" in text("publish-result"), timeout=5)
        wait_until("the event in the log", lambda: "from the console" in text("log"), timeout=5)
        self.cluster.publish("t-console", "kpi.updated", {"calls": 42, "answered": 39}, channel="inbox")
        wait_until("a published event in the log", lambda: "kpi.updated" in text("log"), timeout=5)
        wait_until("alice in the presence list", lambda: "alice" in text("presence"), timeout=5)
        wait_until("metrics", lambda: "open connections" in text("metrics"), timeout=6)
        other = self.harness()
        self.client(other, "bob", account="t-console", user="bob")
        self.connected(other, "bob")
        other.js("H.clients.bob.typing('c1')")
        tab.js("return 1")
        wait_until("bob typing in the console", lambda: "bob typing in c1" in text("typing"), timeout=5)
        wait_until("bob in the presence list", lambda: "bob" in text("presence"), timeout=5)
        if self.screenshot:
            tab.js("return 1")
            driver.set_window_size(1400, 1320)  # the whole page, metrics included
            time.sleep(2.2)  # one more metrics poll, so rates show
            self.screenshot.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(self.screenshot))
            driver.set_window_size(1400, 1000)
            log(f"  screenshot: {self.screenshot}")


TESTS = [
    "connect_and_receive", "failover_after_sigkill", "drain_reconnects_at_once", "offline_queue_flushed_under_flood_limit",
    "typing_seen_by_second_tab", "presence_across_tabs", "token_refresh_and_expiry", "subchannel_recovery",
    "request_reply", "react_inbox_example", "console",
]


def main():
    parser = argparse.ArgumentParser(description="herald.js in real Chromium against real nodes (Tests/Browser/README.md)")
    parser.add_argument("--edge-node", default=os.environ.get("HERALD_EDGE_NODE", str(REPO / ".build/debug/edge-node")))
    parser.add_argument("--chromium", default=os.environ.get("HERALD_CHROMIUM", "/usr/bin/chromium"))
    parser.add_argument("--chromedriver", default=os.environ.get("HERALD_CHROMEDRIVER", "/usr/bin/chromedriver"))
    parser.add_argument("--only", action="append", default=[], help="run the tests whose name contains this (repeatable)")
    parser.add_argument("--screenshot", type=Path, help="save a screenshot of the console to this PNG")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    args = parser.parse_args()
    for path, what in ((args.edge_node, "edge-node"), (args.chromium, "chromium"), (args.chromedriver, "chromedriver")):
        if not (Path(path).is_file() and os.access(path, os.X_OK)):
            log(f"{what} not found at {path}")
            return 2
    # Selenium must never fetch a browser or driver of its own.
    os.environ["SE_OFFLINE"] = "true"
    selected = [t for t in TESTS if not args.only or any(o in t for o in args.only)]
    work = Path(tempfile.mkdtemp(prefix="herald-browser-"))
    cluster = Cluster(Path(args.edge_node).resolve(), work / "cluster")
    server = browser = cutter = None
    outcomes = []
    started = time.monotonic()
    try:
        log(f"starting Redis, 3 edge nodes and HAProxy ({work})")
        cluster.up()
        server = serve.make_server(0, SECRET, {"/tests/": PAGES})
        threading.Thread(target=server.serve_forever, daemon=True).start()
        pages = f"http://127.0.0.1:{server.server_address[1]}"
        cutter = Cutter(cluster.lb_port).start()
        browser = Browser(args.chromium, args.chromedriver)
        suite = Suite(cluster, pages, browser, cutter, args.screenshot)
        log(f"ready in {time.monotonic() - started:.1f} s: HAProxy :{cluster.lb_port}, pages {pages}, relay :{cutter.port}")
        for name in selected:
            began = time.monotonic()
            try:
                getattr(suite, f"test_{name}")()
                outcome = "passed"
                detail = ""
            except Skip as skip:
                outcome, detail = "skipped", str(skip)
            except Exception as error:
                outcome = "failed"
                detail = "".join(traceback.format_exception_only(type(error), error)).strip()
                traceback.print_exc()
                for line in browser.console_errors()[-10:]:
                    log(f"  console: {line}")
            finally:
                cutter.go_online()
                try:
                    browser.close_tabs()
                except Exception as error:
                    log(f"  could not reset the browser: {error}")
                if outcome == "failed" or len(cluster.live_nodes()) < 3:
                    try:
                        for index in (1, 2, 3):
                            if index not in cluster.live_nodes():
                                cluster.run("start-node", str(index))
                        cluster.wait_all_up()
                    except Exception as error:
                        log(f"  could not restore the cluster: {error}")
            outcomes.append((name, outcome))
            log(f"{outcome.upper():7} {name} ({time.monotonic() - began:.1f} s){': ' + detail if detail else ''}")
    except HarnessError as error:
        log(str(error))
        return 2
    finally:
        if browser:
            browser.quit()
        if cutter:
            cutter.stop()
        if server:
            server.shutdown()
        cluster.down()
        if args.keep or any(o == "failed" for _, o in outcomes):
            log(f"logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    counts = {k: sum(1 for _, o in outcomes if o == k) for k in ("passed", "failed", "skipped")}
    log(f"{len(outcomes)} tests in {time.monotonic() - started:.1f} s")
    print(f"browser: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped", flush=True)
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
