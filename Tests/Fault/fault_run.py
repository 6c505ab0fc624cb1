#!/usr/bin/env python3
"""Herald's randomized fault test: seeded, bounded in time, reproducible from the seed it prints.

It starts a real redis-server (AOF, appendfsync always) and three edge nodes on free loopback ports,
connects logical clients over several accounts (each with a user and sub-channels), publishes events
with history through raw `FCALL herald_publish` and the HTTP API, and meanwhile kills pub/sub links,
pauses Redis (CLIENT PAUSE and SIGSTOP), restarts Redis, drains (SIGTERM) and kills (SIGKILL) nodes,
and drops clients at random moments. Clients reconnect to a random live node and resume from their
last offset. After a quiet period it checks, for every client, that every acknowledged event it was
entitled to arrived exactly once and in order (or a `recovered:false` told it about the gap), and that
nothing it was not entitled to ever arrived. See Tests/Fault/README.md for the exact rules.

Exit status: 0 no violation, 1 violations found, 2 the harness itself could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import hashlib
import hmac
import json
import os
import random
import shlex
import shutil
import signal
import socket
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Optional

try:
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    import redis.exceptions as redis_errors
    import websockets
    from websockets.asyncio.client import connect as ws_connect
except ImportError as error:  # pragma: no cover - the wrapper installs these
    print(f"fault_run: missing dependency ({error}); run scripts/fault.sh, which installs Tests/Fault/requirements.txt into .venv/",
          file=sys.stderr)
    sys.exit(2)

EVENT_TYPE = "fault.event"
JWT_SECRET = "fault-test-secret-0123456789abcdefghijklmnop"  # ≥ 32 bytes
API_KEY = "fault-test-api-key"
CHANNELS = ["inbox", "kpi", "ops"]      # the default --channels
FAULT_KINDS = ["pubsub_kill", "redis_pause", "redis_sigstop", "redis_restart", "node_term", "node_kill"]
MODES = ["query", "after", "before"]
INF = (float("inf"), float("inf"))

T0 = time.monotonic()


def now() -> float:
    """Seconds since the run started."""
    return time.monotonic() - T0


def log(message: str) -> None:
    print(f"[{now():7.2f}s] {message}", flush=True)


# ---------------------------------------------------------------------------------------------
# Offsets, tokens, ports, HTTP


def parse_offset(text) -> Optional[tuple]:
    """`<epoch>:<ms>-<seq>` → (epoch, (ms, seq)); None when malformed. Offsets compare by (ms, seq)."""
    if not isinstance(text, str) or ":" not in text:
        return None
    epoch, _, stream_id = text.rpartition(":")
    ms, dash, seq = stream_id.partition("-")
    if not epoch or not dash or not ms.isdigit() or not seq.isdigit():
        return None
    return epoch, (int(ms), int(seq))


def okey(text) -> Optional[tuple]:
    """The comparable (ms, seq) of an offset string, or None."""
    parsed = parse_offset(text)
    return parsed[1] if parsed else None


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_token(account: str, user: str, channels: list[str]) -> str:
    """An HS256 JWT as the nodes expect: sub, account, exp, channels."""
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {"sub": user, "account": account, "exp": int(time.time()) + 86400, "iat": int(time.time()),
              "channels": channels}
    signing = b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + \
        b64url(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(JWT_SECRET.encode(), signing.encode(), hashlib.sha256).digest()
    return signing + "." + b64url(signature)


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (bound to 0 and released)."""
    sockets, ports = [], []
    try:
        while len(ports) < count:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in sockets:
            s.close()
    return ports


async def http_request(port: int, method: str, path: str, body: bytes = b"", headers: Optional[dict] = None,
                       timeout: float = 5.0) -> tuple[int, bytes]:
    """One HTTP/1.1 request to 127.0.0.1:port with Connection: close; (status, body). Raises on failure."""
    async def run():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close",
                     f"Content-Length: {len(body)}"]
            for name, value in (headers or {}).items():
                lines.append(f"{name}: {value}")
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            status = int(status_line.split(" ")[1])
            length = None
            for line in header_lines:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            payload = await (reader.readexactly(length) if length is not None else reader.read(-1))
            return status, payload
        finally:
            writer.close()
    return await asyncio.wait_for(run(), timeout)


async def redis_ping(port: int, timeout: float = 1.0) -> bool:
    """Whether a Redis on `port` answers PING with PONG (not LOADING, not paused past the timeout)."""
    async def run():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"*1\r\n$4\r\nPING\r\n")
            await writer.drain()
            return (await reader.readline()).startswith(b"+PONG")
        finally:
            writer.close()
    try:
        return await asyncio.wait_for(run(), timeout)
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
        return False


# ---------------------------------------------------------------------------------------------
# What is recorded


@dataclass
class Event:
    id: str
    account: str
    user: Optional[str]
    channel: Optional[str]
    method: str                      # fcall | http
    published_at: float
    node: Optional[int] = None       # HTTP: which node
    acked: bool = False
    offset: Optional[str] = None     # from the acknowledgement
    error: Optional[str] = None
    marker: bool = False

    @property
    def stream(self) -> str:
        return f"channel:{self.channel}" if self.channel else "main"

    def describe(self) -> str:
        target = []
        if self.user:
            target.append(f"user={self.user}")
        if self.channel:
            target.append(f"channel={self.channel}")
        how = f"{self.method}" + (f"@node{self.node}" if self.node is not None else "")
        return f"{self.id} [{self.account} {' '.join(target) or 'broadcast'}] via {how} at {self.published_at:.2f}s"


@dataclass
class Arrival:
    event_id: str
    offset: Optional[str]
    conn: int                        # index into the client's connections
    at: float
    stream: str


@dataclass
class RecoveryFrame:
    conn: int
    recovered: bool
    count: Optional[int]
    reason: Optional[str]
    position: int                    # number of events the client had received before it
    at: float


@dataclass
class Connection:
    index: int
    node: int
    mode: str                        # query | after | before
    since: Optional[str]             # the `since` sent (None on the client's first connection)
    drop: str                        # the drop plan: handshake | connected | early | late | none
    opened_at: float
    connected_offset: Optional[str] = None
    connected_at: Optional[float] = None
    closed_at: Optional[float] = None
    end: str = "?"                   # how it ended
    close_code: Optional[int] = None
    subscribes: dict = field(default_factory=dict)   # id -> channel
    subscribes_sent_at: Optional[float] = None
    acks: set = field(default_factory=set)
    recovered_false: bool = False
    max_key: Optional[tuple] = None
    max_offset: Optional[str] = None
    events: int = 0


@dataclass
class FaultRecord:
    kind: str
    started: float
    ended: Optional[float] = None
    detail: str = ""


# ---------------------------------------------------------------------------------------------
# Processes: one redis-server, N edge nodes


class Cluster:
    def __init__(self, opts, tmp: str):
        self.opts = opts
        self.tmp = tmp
        ports = free_ports(1 + opts.nodes)
        self.redis_port = ports[0]
        self.node_ports = ports[1:]
        self.redis_dir = os.path.join(tmp, "redis")
        os.makedirs(self.redis_dir, exist_ok=True)
        self.redis_proc: Optional[asyncio.subprocess.Process] = None
        self.redis_stopped = False       # SIGSTOPped right now
        self.nodes: dict[int, Optional[asyncio.subprocess.Process]] = {i: None for i in range(opts.nodes)}
        self.node_up: dict[int, bool] = {i: False for i in range(opts.nodes)}
        self.children: list[asyncio.subprocess.Process] = []
        self.node_starts = 0
        self.redis_starts = 0
        self.warnings: list[str] = []
        self.expect_exit: dict[int, bool] = {i: False for i in range(opts.nodes)}
        self.log_offset: dict[int, int] = {i: 0 for i in range(opts.nodes)}
        self.crashes: list[str] = []      # nodes that exited on their own, or not cleanly after SIGTERM
        self.drain_overruns: list[str] = []

    # Redis

    async def start_redis(self) -> None:
        args = [self.opts.redis_server, "--port", str(self.redis_port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", self.redis_dir,
                "--logfile", "redis.log", "--daemonize", "no"]
        self.redis_proc = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
        self.children.append(self.redis_proc)
        self.redis_starts += 1
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.redis_proc.returncode is not None:
                raise HarnessError(f"redis-server exited with {self.redis_proc.returncode}; see {self.redis_dir}/redis.log")
            if await redis_ping(self.redis_port):
                return
            await asyncio.sleep(0.05)
        raise HarnessError("redis-server did not answer PING within 30 s")

    async def stop_redis(self, how: str) -> None:
        """SHUTDOWN (AOF flushed, fsynced) or SIGKILL; waits for the process to exit."""
        proc = self.redis_proc
        if proc is None or proc.returncode is not None:
            return
        if how == "shutdown":
            client = self.fault_redis()
            try:
                await client.execute_command("SHUTDOWN")
            except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError):
                pass  # the expected answer: the connection closes
            except redis_errors.ResponseError as error:
                self.warnings.append(f"SHUTDOWN refused: {error}")
            finally:
                await close_quietly(client)
        else:
            self.signal(proc, signal.SIGKILL)
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except asyncio.TimeoutError:
            self.warnings.append("redis-server did not exit 15 s after SHUTDOWN: killed")
            self.signal(proc, signal.SIGKILL)
            await proc.wait()

    def fault_redis(self):
        return aioredis.Redis(host="127.0.0.1", port=self.redis_port, socket_timeout=5, socket_connect_timeout=2,
                              retry=Retry(NoBackoff(), 0), decode_responses=True)

    # Nodes

    def node_env(self, i: int) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
        env.update({
            "HERALD_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "HERALD_JWT_SECRET": JWT_SECRET,
            "HERALD_API_KEYS": API_KEY,
            "HERALD_LISTEN": f"127.0.0.1:{self.node_ports[i]}",
            "HERALD_NODE_ID": f"fault-node-{i}",
            "HERALD_SUBSCRIPTION_LINGER_MS": "150",
            "HERALD_DRAIN_SECONDS": str(self.opts.drain_seconds),
            "HERALD_LOG_LEVEL": "warning",
        })
        return env

    async def start_node(self, i: int) -> None:
        """Starts node i on its port and waits for /healthz (the port may need a moment after a kill)."""
        for attempt in range(5):
            with open(os.path.join(self.tmp, f"node-{i}.log"), "ab") as logfile:
                logfile.write(f"--- start {attempt} at {now():.2f}s\n".encode())
                logfile.flush()
                self.log_offset[i] = logfile.tell()
                proc = await asyncio.create_subprocess_exec(
                    self.opts.edge_node, env=self.node_env(i), stdin=asyncio.subprocess.DEVNULL,
                    stdout=logfile, stderr=logfile, start_new_session=True)
            self.children.append(proc)
            self.nodes[i] = proc
            self.expect_exit[i] = False
            self.node_starts += 1
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and proc.returncode is None:
                try:
                    status, _ = await http_request(self.node_ports[i], "GET", "/healthz", timeout=1)
                    if status == 200:
                        self.node_up[i] = True
                        return
                except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError):
                    pass
                await asyncio.sleep(0.05)
            if proc.returncode is None:
                self.signal(proc, signal.SIGKILL)
                await proc.wait()
            self.warnings.append(f"node {i} did not come up (attempt {attempt}, exit {proc.returncode})")
            await asyncio.sleep(0.5)
        raise HarnessError(f"node {i} would not start; see {self.tmp}/node-{i}.log")

    async def stop_node(self, i: int, sig: int) -> float:
        """Signals node i and waits for it to exit; returns how long that took."""
        proc = self.nodes[i]
        self.node_up[i] = False
        self.expect_exit[i] = True
        started = time.monotonic()
        if proc is None or proc.returncode is not None:
            return 0.0
        self.signal(proc, sig)
        limit = self.opts.drain_seconds + 10 if sig == signal.SIGTERM else 10
        try:
            await asyncio.wait_for(proc.wait(), limit)
        except asyncio.TimeoutError:
            self.crashes.append(f"node {i} still running {limit} s after SIGTERM at {now() - limit:.2f}s: killed")
            self.signal(proc, signal.SIGKILL)
            await proc.wait()
            return time.monotonic() - started
        took = time.monotonic() - started
        if sig == signal.SIGTERM:
            if proc.returncode != 0:
                self.crashes.append(f"node {i} exited with status {proc.returncode} after SIGTERM at {now() - took:.2f}s: "
                                    f"{self.crash_excerpt(i)}")
            elif took > self.opts.drain_seconds + 1:
                self.drain_overruns.append(f"node {i} took {took:.1f} s to exit after SIGTERM (drain {self.opts.drain_seconds} s)")
        return took

    def crash_excerpt(self, i: int) -> str:
        """The first fatal-looking lines the node logged since its last start."""
        try:
            with open(os.path.join(self.tmp, f"node-{i}.log"), "rb") as f:
                f.seek(self.log_offset[i])
                lines = f.read().decode(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        picked = []
        for word in ("Fatal error", "Program crashed", "ERROR"):
            for line in lines:
                if word in line:
                    picked.append(line[line.index(word):].strip()[:200])
                    break
        return " | ".join(picked) or "(nothing fatal in its log)"

    async def watch_nodes(self) -> None:
        """Restarts a node that exited without being told to, and records it as a crash."""
        while True:
            await asyncio.sleep(0.2)
            for i, proc in self.nodes.items():
                if proc is not None and proc.returncode is not None and not self.expect_exit[i]:
                    self.expect_exit[i] = True
                    self.node_up[i] = False
                    self.crashes.append(f"node {i} exited by itself with status {proc.returncode} at {now():.2f}s: "
                                        f"{self.crash_excerpt(i)}")
                    log(f"node {i} exited by itself ({proc.returncode}); restarting it")
                    await self.start_node(i)

    def live_nodes(self) -> list[int]:
        return [i for i, up in self.node_up.items() if up]

    # Cleanup

    @staticmethod
    def signal(proc, sig) -> None:
        if proc is not None and proc.returncode is None:
            try:
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                pass

    async def shutdown(self) -> None:
        """Kills every process this run started (by pid) and reaps it."""
        if self.redis_proc is not None and self.redis_stopped:
            self.signal(self.redis_proc, signal.SIGCONT)
        for proc in self.children:
            self.signal(proc, signal.SIGKILL)
        for proc in self.children:
            if proc.returncode is None:
                try:
                    await asyncio.wait_for(proc.wait(), 5)
                except asyncio.TimeoutError:
                    pass

    def kill_now(self) -> None:
        """Synchronous last resort (atexit)."""
        for proc in self.children:
            if proc.returncode is None:
                try:
                    os.kill(proc.pid, signal.SIGCONT)
                    os.kill(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


class HarnessError(Exception):
    """The harness could not do its part (a process would not start): not a finding about Herald."""


async def close_quietly(client) -> None:
    try:
        await client.aclose()
    except Exception:  # noqa: BLE001 - closing a broken connection
        pass


# ---------------------------------------------------------------------------------------------
# Logical clients


@dataclass
class ClientSpec:
    index: int
    account: str
    user: str
    allowed: list
    wanted: list


class Client:
    """One logical client: a user of an account with sub-channels, across any number of connections.

    It keeps `resume`, the offset it reconnects from: its first `connected` offset, then the highest
    offset received on a connection, except when that connection ended before the `ack` of a late
    `subscribe` (then it keeps the connection's own `since`: resuming from the highest offset would
    skip channel events the recovery had not delivered yet).
    """

    def __init__(self, spec: ClientSpec, run: "Run"):
        self.spec = spec
        self.run = run
        self.rng = random.Random(f"{run.opts.seed}/client/{spec.index}")
        self.token = mint_token(spec.account, spec.user, spec.allowed)
        self.base: Optional[str] = None          # first `connected` offset: owed everything after it
        self.resume: Optional[str] = None
        self.connections: list[Connection] = []
        self.arrivals: list[Arrival] = []
        self.recoveries: list[RecoveryFrame] = []
        self.received_ids: set = set()
        self.markers: set = set()
        self.errors: list[str] = []
        self.unexpected: list[str] = []
        self.handshake_failures = collections.Counter()
        self.rewinds = 0
        self.connected_now = False
        self.next_subscribe_id = 1

    @property
    def name(self) -> str:
        return f"c{self.spec.index}({self.spec.account}/{self.spec.user} wants {','.join(self.spec.wanted) or '-'})"

    def entitled(self, event: Event) -> bool:
        return (event.account == self.spec.account and (event.user is None or event.user == self.spec.user)
                and (event.channel is None or event.channel in self.spec.wanted))

    # The connect loop

    async def run_forever(self) -> None:
        failures = 0
        while not self.run.stop_clients.is_set():
            live = self.run.cluster.live_nodes() or list(range(self.run.opts.nodes))
            node = self.rng.choice(live)
            try:
                established, close_code = await self.one_connection(node)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - a client bug must not end the run silently
                self.errors.append(f"client error: {type(error).__name__}: {error}")
                established, close_code = False, None
            self.connected_now = False
            failures = 0 if established else failures + 1
            if self.run.stop_clients.is_set():
                break
            if close_code == 1012:
                delay = self.rng.uniform(0, 0.05)          # draining: reconnect at once
            else:
                delay = min(1.0, 0.05 * 2 ** min(failures, 5)) * self.rng.uniform(0.5, 1.0)
            try:
                await asyncio.wait_for(self.run.stop_clients.wait(), delay)
            except asyncio.TimeoutError:
                pass

    def plan_drop(self) -> tuple[str, float]:
        if not self.run.chaos.is_set():
            return "none", 0.0
        roll = self.rng.random()
        if roll < 0.07:
            return "handshake", 0.0                      # right after the upgrade, before `connected`
        if roll < 0.14:
            return "connected", 0.0                      # right after `connected` (before any subscribe)
        if roll < 0.30:
            return "early", self.rng.uniform(0.0, 0.6)   # during the replay or the subscribe recovery
        return "late", self.rng.expovariate(1.0 / self.run.opts.client_life)

    async def one_connection(self, node: int) -> tuple[bool, Optional[int]]:
        """One connection from handshake to its end; returns (got `connected`, server close code)."""
        rng = self.rng
        mode = rng.choice(self.run.modes)
        drop, drop_after = self.plan_drop()
        since = self.resume
        query = {"token": self.token}
        if since is not None:
            query["since"] = since
        if mode == "query" and self.spec.wanted:
            query["channels"] = ",".join(self.spec.wanted)
        url = f"ws://127.0.0.1:{self.run.cluster.node_ports[node]}/ws?" + urllib.parse.urlencode(query, safe=":,")
        abort = rng.random() < 0.7                       # drop as a lost TCP connection, else a clean close
        subscribe_since = rng.random() < 0.5             # `subscribe` carries `since` (the connection's base)
        try:
            ws = await ws_connect(url, open_timeout=5, close_timeout=2, ping_interval=10, ping_timeout=30,
                                  compression=None, proxy=None, max_queue=None, max_size=1 << 22)
        except websockets.exceptions.InvalidStatus as error:
            self.handshake_failures[f"http {error.response.status_code}"] += 1
            return False, None
        except (OSError, asyncio.TimeoutError, websockets.exceptions.InvalidHandshake,
                websockets.exceptions.ConnectionClosed, EOFError) as error:
            self.handshake_failures[type(error).__name__] += 1
            return False, None
        conn = Connection(index=len(self.connections), node=node, mode=mode, since=since, drop=drop,
                          opened_at=now())
        self.connections.append(conn)
        try:
            if drop == "handshake":
                conn.end = "dropped after handshake"
                return False, await self.drop(ws, abort)
            if mode == "before":
                await self.subscribe(ws, conn, since if subscribe_since else None)
            first = await asyncio.wait_for(ws.recv(), 10)
            message = json.loads(first)
            if message.get("type") != "connected":
                self.unexpected.append(f"first frame is not connected: {first[:200]}")
                self.handle(conn, message, first)
            else:
                conn.connected_offset = message.get("offset")
                conn.connected_at = now()
            if self.base is None:
                if okey(conn.connected_offset) is None:
                    self.errors.append(f"first connected frame without a valid offset: {first[:200]}")
                    conn.end = "no base offset"
                    return False, await self.drop(ws, False)
                self.base = self.resume = conn.connected_offset
            self.connected_now = True
            if drop == "connected":
                conn.end = "dropped after connected"
                return True, await self.drop(ws, abort)
            if mode == "after":
                base = since if since is not None else conn.connected_offset
                await self.subscribe(ws, conn, base if subscribe_since else None)
            deadline = (time.monotonic() + drop_after) if drop in ("early", "late") else None
            while True:
                if self.run.stop_clients.is_set():
                    conn.end = "closed at the end"
                    await ws.close()
                    return True, None
                if deadline is not None and not self.run.chaos.is_set():
                    deadline = None                      # chaos is over: stay connected
                timeout = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
                if deadline is not None and time.monotonic() >= deadline:
                    conn.end = f"dropped ({drop})"
                    return True, await self.drop(ws, abort)
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout)
                except asyncio.TimeoutError:
                    continue
                self.handle(conn, json.loads(raw), raw)
        except websockets.exceptions.ConnectionClosed as closed:
            conn.close_code = closed.rcvd.code if closed.rcvd is not None else None
            conn.end = f"closed by server ({conn.close_code})" if closed.rcvd is not None else "connection lost"
            return conn.connected_offset is not None, conn.close_code
        except asyncio.TimeoutError:
            conn.end = "no connected frame within 10 s"
            return False, await self.drop(ws, True)
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as error:
            self.unexpected.append(f"undecodable frame: {error}")
            conn.end = "undecodable frame"
            return False, await self.drop(ws, True)
        finally:
            self.finish(conn)

    async def drop(self, ws, abort: bool) -> None:
        if abort:
            ws.transport.abort()
        else:
            try:
                await asyncio.wait_for(ws.close(), 3)
            except (asyncio.TimeoutError, OSError):
                ws.transport.abort()
        return None

    async def subscribe(self, ws, conn: Connection, since: Optional[str]) -> None:
        if not self.spec.wanted:
            return
        conn.subscribes_sent_at = now()
        for channel in self.spec.wanted:
            ident = self.next_subscribe_id
            self.next_subscribe_id += 1
            conn.subscribes[ident] = channel
            message = {"type": "subscribe", "channel": channel, "id": ident}
            if since is not None:
                message["since"] = since
            await ws.send(json.dumps(message))

    def handle(self, conn: Connection, message: dict, raw) -> None:
        kind = message.get("type")
        if kind == EVENT_TYPE:
            data = message.get("data") if isinstance(message.get("data"), dict) else {}
            event_id = data.get("id")
            offset = message.get("offset")
            event = self.run.events.get(event_id)
            stream = event.stream if event else "?"
            self.arrivals.append(Arrival(event_id=event_id, offset=offset, conn=conn.index, at=now(), stream=stream))
            self.received_ids.add(event_id)
            conn.events += 1
            key = okey(offset)
            if key is not None and (conn.max_key is None or key > conn.max_key):
                conn.max_key, conn.max_offset = key, offset
            if event is not None and event.marker:
                self.markers.add(event_id)
        elif kind == "recovery":
            frame = RecoveryFrame(conn=conn.index, recovered=message.get("recovered") is True,
                                  count=message.get("count"), reason=message.get("reason"),
                                  position=len(self.arrivals), at=now())
            self.recoveries.append(frame)
            if not frame.recovered:
                conn.recovered_false = True
        elif kind == "ack":
            if message.get("ref") in conn.subscribes:
                conn.acks.add(message.get("ref"))
        elif kind == "connected":
            self.unexpected.append(f"a second connected frame on one connection: {str(raw)[:200]}")
        elif kind == "error":
            self.errors.append(f"error frame on connection {conn.index}: {str(raw)[:200]}")
        elif kind == "pong" or (isinstance(kind, str) and (kind.startswith("presence.") or kind.startswith("typing."))):
            pass
        else:
            self.unexpected.append(str(raw)[:200])

    def subscribe_recovery_settled(self, conn: Connection) -> bool:
        """Whether every late `subscribe` of this connection has finished recovering its channel.

        The server sends a subscribe's `ack` after the channel's missed events (docs/protocol.md),
        so a subscribe is settled once acknowledged. Unsettled, the client does not advance its
        resume offset past the connection's since.
        """
        return len(conn.acks) >= len(conn.subscribes)

    def finish(self, conn: Connection) -> None:
        conn.closed_at = now()
        if conn.connected_offset is None and conn.max_key is None:
            return
        resume_key = okey(self.resume)
        if not self.subscribe_recovery_settled(conn):
            if conn.max_key is not None and (resume_key is None or conn.max_key > resume_key):
                self.rewinds += 1
        elif conn.max_key is not None and (resume_key is None or conn.max_key > resume_key):
            self.resume, resume_key = conn.max_offset, conn.max_key
        if conn.recovered_false:
            # Told it may have missed events: a real client refetches its state and carries on from
            # the position the connection started at.
            key = okey(conn.connected_offset)
            if key is not None and (resume_key is None or key > resume_key):
                self.resume = conn.connected_offset


# ---------------------------------------------------------------------------------------------
# The run


class Run:
    def __init__(self, opts, tmp: str):
        self.opts = opts
        self.tmp = tmp
        self.cluster = Cluster(opts, tmp)
        self.modes = opts.modes
        self.events: dict[str, Event] = {}
        self.faults: list[FaultRecord] = []
        self.chaos = asyncio.Event()          # set while faults and client drops run
        self.stop_publishing = asyncio.Event()
        self.stop_clients = asyncio.Event()
        self.publish_client = None
        self.accounts = [f"acct-{i}" for i in range(opts.accounts)]
        self.users = {a: [f"u{j}" for j in range(opts.users)] for a in self.accounts}
        self.clients: list[Client] = []
        self.inflight = 0
        self.http_failures = collections.Counter()
        self.fcall_failures = collections.Counter()
        self.event_serial = 0

    # Setup

    def make_clients(self) -> None:
        rng = random.Random(f"{self.opts.seed}/setup")
        for i in range(self.opts.clients):
            account = self.accounts[i % len(self.accounts)]
            user = self.users[account][(i // len(self.accounts)) % self.opts.users]
            allowed = sorted(rng.sample(CHANNELS, rng.randint(1, len(CHANNELS)))) if CHANNELS else []
            wanted = sorted(c for c in allowed if rng.random() < 0.7)
            self.clients.append(Client(ClientSpec(i, account, user, allowed, wanted), self))

    # Publishing

    def new_event(self, rng: random.Random, account: str, marker: bool = False, channel=None) -> Event:
        self.event_serial += 1
        ident = f"{'m' if marker else 'e'}{self.event_serial}"
        user = None
        if not marker:
            roll = rng.random()
            if roll < 0.25:
                user = rng.choice(self.users[account] + ["nobody"])
            elif roll < 0.5 and CHANNELS:
                channel = rng.choice(CHANNELS)
            elif roll < 0.55 and CHANNELS:
                user, channel = rng.choice(self.users[account]), rng.choice(CHANNELS)
        method = "fcall" if marker or rng.random() < 0.5 else "http"
        event = Event(id=ident, account=account, user=user, channel=channel, method=method,
                      published_at=now(), marker=marker)
        self.events[ident] = event
        return event

    async def publish(self, event: Event, node: Optional[int]) -> None:
        body = {"type": EVENT_TYPE, "data": {"id": event.id, "account": event.account}}
        if event.user is not None:
            body["user"] = event.user
        if event.channel is not None:
            body["channel"] = event.channel
        try:
            if event.method == "fcall":
                offset = await self.publish_client.execute_command(
                    "FCALL", "herald_publish", 1, f"herald:{{{event.account}}}", json.dumps(body))
                event.acked, event.offset = True, offset
            else:
                event.node = node
                request = dict(body, account=event.account)
                status, payload = await http_request(
                    self.cluster.node_ports[node], "POST", "/api/v1/publish", json.dumps(request).encode(),
                    {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}, timeout=8)
                answer = json.loads(payload) if payload else {}
                if status == 200 and isinstance(answer.get("offset"), str):
                    event.acked, event.offset = True, answer["offset"]
                else:
                    event.error = f"http {status}"
                    self.http_failures[f"http {status}"] += 1
        except Exception as error:  # noqa: BLE001 - any failure leaves the event unacknowledged
            event.error = type(error).__name__
            (self.fcall_failures if event.method == "fcall" else self.http_failures)[type(error).__name__] += 1
        if event.acked and okey(event.offset) is None:
            event.error, event.acked = f"acknowledged with a malformed offset {event.offset!r}", False

    async def publisher(self, account: str, index: int) -> None:
        rng = random.Random(f"{self.opts.seed}/publisher/{index}")
        semaphore = asyncio.Semaphore(8)
        tasks = set()
        # The first account is a quiet one (a tenth of the rate): a node then often holds it without
        # having delivered any of its events yet, the case where an outage used to lose events.
        interval = 1.0 / (self.opts.rate * (0.1 if index == 0 and len(self.accounts) > 1 else 1.0))
        while not self.stop_publishing.is_set():
            await semaphore.acquire()
            event = self.new_event(rng, account)
            live = self.cluster.live_nodes() or list(range(self.opts.nodes))
            node = rng.choice(live) if event.method == "http" else None

            async def one(event=event, node=node):
                try:
                    await self.publish(event, node)
                finally:
                    semaphore.release()
            task = asyncio.create_task(one())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            try:
                await asyncio.wait_for(self.stop_publishing.wait(), interval * rng.uniform(0.5, 1.5))
            except asyncio.TimeoutError:
                pass
        if tasks:
            await asyncio.wait(tasks, timeout=15)

    # Faults

    async def fault(self, kind: str, rng: random.Random) -> None:
        record = FaultRecord(kind=kind, started=now())
        self.faults.append(record)
        cluster = self.cluster
        if kind == "pubsub_kill":
            client = cluster.fault_redis()
            try:
                killed = await client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
                record.detail = f"{killed} subscriber connection(s)"
            except Exception as error:  # noqa: BLE001
                record.detail = f"failed: {type(error).__name__}"
            finally:
                await close_quietly(client)
        elif kind == "redis_pause":
            ms = rng.randint(1000, 4000)
            client = cluster.fault_redis()
            try:
                await client.execute_command("CLIENT", "PAUSE", ms, "ALL")
                record.detail = f"{ms} ms"
            except Exception as error:  # noqa: BLE001
                record.detail = f"failed: {type(error).__name__}"
                ms = 0
            finally:
                await close_quietly(client)
            await asyncio.sleep(ms / 1000)
        elif kind == "redis_sigstop":
            ms = rng.randint(1000, 4000)
            cluster.redis_stopped = True
            cluster.signal(cluster.redis_proc, signal.SIGSTOP)
            try:
                await asyncio.sleep(ms / 1000)
            finally:
                cluster.signal(cluster.redis_proc, signal.SIGCONT)
                cluster.redis_stopped = False
            record.detail = f"{ms} ms"
        elif kind == "redis_restart":
            how = "shutdown" if rng.random() < 0.75 else "sigkill"
            down = rng.uniform(0.2, 2.0)
            await cluster.stop_redis(how)
            await asyncio.sleep(down)
            await cluster.start_redis()
            record.detail = f"{how}, down {down:.1f} s"
        elif kind in ("node_term", "node_kill"):
            live = cluster.live_nodes()
            if len(live) < 2:
                record.detail = "skipped: fewer than 2 nodes up"
            else:
                i = rng.choice(live)
                sig = signal.SIGTERM if kind == "node_term" else signal.SIGKILL
                took = await cluster.stop_node(i, sig)
                down = rng.uniform(0.1, 1.5)
                await asyncio.sleep(down)
                await cluster.start_node(i)
                record.detail = f"node {i}, exit took {took:.1f} s, restarted after {down:.1f} s"
        record.ended = now()
        log(f"fault {kind} {record.started:.2f}s–{record.ended:.2f}s: {record.detail}")

    async def fault_loop(self, name: str, kinds: list[str], gap: tuple[float, float]) -> None:
        rng = random.Random(f"{self.opts.seed}/faults/{name}")
        while self.chaos.is_set():
            try:
                await asyncio.wait_for(self.stop_chaos_wait(), rng.uniform(*gap))
                return
            except asyncio.TimeoutError:
                pass
            if not self.chaos.is_set() or not kinds:
                return
            await self.fault(rng.choice(kinds), rng)

    async def stop_chaos_wait(self) -> None:
        while self.chaos.is_set():
            await asyncio.sleep(0.05)

    # Phases

    async def execute(self) -> int:
        opts = self.opts
        log(f"tmpdir {self.tmp}; redis on {self.cluster.redis_port}, nodes on {self.cluster.node_ports}")
        await self.cluster.start_redis()
        await asyncio.gather(*(self.cluster.start_node(i) for i in range(opts.nodes)))
        # Wait until every node is ready (Redis connected, the function library loaded).
        deadline = time.monotonic() + 30
        for i in range(opts.nodes):
            while True:
                try:
                    status, _ = await http_request(self.cluster.node_ports[i], "GET", "/readyz", timeout=1)
                    if status == 200:
                        break
                except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError):
                    pass
                if time.monotonic() > deadline:
                    raise HarnessError(f"node {i} not ready within 30 s")
                await asyncio.sleep(0.05)
        probe = self.cluster.fault_redis()
        try:
            for _ in range(100):
                try:
                    await probe.execute_command("FCALL", "herald_version", 0)
                    break
                except redis_errors.ResponseError:
                    await asyncio.sleep(0.1)
        finally:
            await close_quietly(probe)
        self.publish_client = aioredis.Redis(
            host="127.0.0.1", port=self.cluster.redis_port, socket_timeout=10, socket_connect_timeout=2,
            retry=Retry(NoBackoff(), 0), decode_responses=True, max_connections=64)
        log(f"cluster up: redis + {opts.nodes} nodes")
        watcher = asyncio.create_task(self.cluster.watch_nodes())

        self.make_clients()
        self.chaos.set()
        client_tasks = [asyncio.create_task(c.run_forever()) for c in self.clients]
        deadline = time.monotonic() + 30
        while any(c.base is None for c in self.clients):
            if time.monotonic() > deadline:
                raise HarnessError("clients could not get their first connected frame within 30 s")
            await asyncio.sleep(0.05)
        log(f"{len(self.clients)} clients connected; publishing and faults for {opts.duration} s")

        publishers = [asyncio.create_task(self.publisher(a, i)) for i, a in enumerate(self.accounts)]
        redis_kinds = [k for k in opts.faults if k.startswith("pubsub") or k.startswith("redis")]
        node_kinds = [k for k in opts.faults if k.startswith("node")]
        fault_tasks = [asyncio.create_task(self.fault_loop("redis", redis_kinds, (opts.fault_gap * 0.5, opts.fault_gap * 1.5))),
                       asyncio.create_task(self.fault_loop("nodes", node_kinds, (opts.fault_gap * 0.8, opts.fault_gap * 2.0)))]
        await asyncio.sleep(opts.duration)

        log("faults stop; waiting for the current ones to end")
        self.chaos.clear()
        await asyncio.gather(*fault_tasks)
        for i in range(opts.nodes):
            if not self.cluster.node_up[i]:
                await self.cluster.start_node(i)
        log(f"quiet period: {opts.quiet} s of publishing without faults")
        await asyncio.sleep(opts.quiet)
        self.stop_publishing.set()
        await asyncio.gather(*publishers)

        # Markers: one broadcast and one per sub-channel per account; every client must get its own.
        rng = random.Random(f"{opts.seed}/markers")
        for account in self.accounts:
            for channel in [None] + CHANNELS:
                for attempt in range(20):
                    event = self.new_event(rng, account, marker=True, channel=channel)
                    await self.publish(event, None)
                    if event.acked:
                        break
                    await asyncio.sleep(0.25)
        expected = {c.spec.index: {e.id for e in self.events.values() if e.marker and e.acked and c.entitled(e)}
                    for c in self.clients}
        log(f"markers published; waiting up to {opts.settle_timeout} s for every client to receive its own")
        deadline = time.monotonic() + opts.settle_timeout
        while time.monotonic() < deadline:
            if all(expected[c.spec.index] <= c.markers for c in self.clients):
                break
            await asyncio.sleep(0.1)
        waiting = [c for c in self.clients if not expected[c.spec.index] <= c.markers]
        if waiting:
            log(f"{len(waiting)} client(s) still miss markers after {opts.settle_timeout} s")
        else:
            log("every client has its markers")
        await asyncio.sleep(1.0)  # late duplicates still arrive here
        self.stop_clients.set()
        await asyncio.wait(client_tasks, timeout=10)
        for task in client_tasks:
            task.cancel()
        watcher.cancel()
        await asyncio.gather(*client_tasks, return_exceptions=True)
        await close_quietly(self.publish_client)
        return Checker(self, expected).report()


# ---------------------------------------------------------------------------------------------
# Checks


class Checker:
    MAX_EXAMPLES = 10

    def __init__(self, run: Run, expected_markers: dict):
        self.run = run
        self.expected_markers = expected_markers
        self.violations: dict[str, list[str]] = collections.OrderedDict(
            (k, []) for k in ("missing", "duplicate", "order", "not_entitled", "offset_mismatch", "unknown_event",
                              "node_crash"))
        self.missing_breakdown = collections.Counter()
        self.excused = 0
        self.redelivered_asked = 0
        self.failed_clients: set = set()

    def violation(self, kind: str, client: Client, text: str, category=None) -> None:
        self.violations[kind].append((category, f"{client.name}: {text}"))
        self.failed_clients.add(client.spec.index)

    def examples(self, items: list) -> list[str]:
        """Up to MAX_EXAMPLES, taken in turn from each category so a rare kind of loss is shown too."""
        by_category = collections.OrderedDict()
        for category, text in items:
            by_category.setdefault(category, []).append(text)
        chosen, round_ = [], 0
        while len(chosen) < min(self.MAX_EXAMPLES, len(items)):
            for texts in by_category.values():
                if round_ < len(texts) and len(chosen) < self.MAX_EXAMPLES:
                    chosen.append(texts[round_])
            round_ += 1
        return chosen

    def fault_near(self, at: float) -> str:
        before = [f for f in self.run.faults if f.started <= at]
        if not before:
            return "no fault before it"
        last = before[-1]
        ended = f"{last.ended:.2f}s" if last.ended is not None else "?"
        return f"last fault before: {last.kind} {last.detail} at {last.started:.2f}s–{ended}"

    def check_client(self, client: Client) -> None:
        run = self.run
        conns = client.connections
        base_key = okey(client.base)
        arrivals_by_id = collections.defaultdict(list)
        for position, arrival in enumerate(client.arrivals):
            arrivals_by_id[arrival.event_id].append((position, arrival))

        # (d) entitlement, unknown events, offset mismatch; (b) duplicates
        for event_id, items in arrivals_by_id.items():
            event = run.events.get(event_id)
            if event is None:
                self.violation("unknown_event", client, f"{event_id!r} was never published by this run")
                continue
            if not client.entitled(event):
                why = ("another account" if event.account != client.spec.account else
                       "another user" if event.user not in (None, client.spec.user) else
                       "a channel it did not subscribe to")
                self.violation("not_entitled", client, f"{event.describe()} offset {items[0][1].offset}: event of {why}")
            for _, arrival in items:
                if event.acked and arrival.offset != event.offset:
                    self.violation("offset_mismatch", client,
                                   f"{event.describe()}: delivered with offset {arrival.offset}, acknowledged {event.offset}")
                    break
                if okey(arrival.offset) is None:
                    self.violation("offset_mismatch", client, f"{event.describe()}: delivered without a valid offset ({arrival.offset!r})")
                    break
            seen_conns = set()
            for n, (_, arrival) in enumerate(items):
                if n > 0:
                    since_key = okey(conns[arrival.conn].since)
                    key = okey(arrival.offset)
                    asked_again = (arrival.conn not in seen_conns and since_key is not None and key is not None
                                   and since_key < key)
                    if asked_again:
                        self.redelivered_asked += 1
                    else:
                        where = "twice on one connection" if arrival.conn in seen_conns else \
                            f"again on connection {arrival.conn} whose since {conns[arrival.conn].since} is at or after it"
                        self.violation("duplicate", client,
                                       f"{event.describe()} offset {arrival.offset}: arrived {len(items)} times, {where}")
                seen_conns.add(arrival.conn)

        # (c) order: within each connection, offsets strictly increase per stream; nothing at or before
        # the connection's since that the client had not already received.
        last = {}
        received_before = set()
        for arrival in client.arrivals:
            key = okey(arrival.offset)
            if key is None:
                received_before.add(arrival.event_id)
                continue
            slot = (arrival.conn, arrival.stream)
            previous = last.get(slot)
            if previous is not None and key <= previous[0]:
                self.violation("order", client,
                               f"{arrival.event_id} offset {arrival.offset} on connection {arrival.conn} ({arrival.stream}) after {previous[1]}")
            last[slot] = (key, arrival.offset) if previous is None or key > previous[0] else previous
            since_key = okey(conns[arrival.conn].since)
            if since_key is not None and key <= since_key and arrival.event_id not in received_before:
                self.violation("order", client,
                               f"{arrival.event_id} offset {arrival.offset} first arrived on connection {arrival.conn} resumed from the later {conns[arrival.conn].since}")
            received_before.add(arrival.event_id)

        # (a) every acknowledged entitled event after the first base arrived, unless a recovered:false covered it
        excuses = []
        for frame in client.recoveries:
            if frame.recovered:
                continue
            conn = conns[frame.conn]
            low = okey(conn.since if conn.since is not None else client.base)
            for arrival in reversed(client.arrivals[:frame.position]):
                if arrival.conn != frame.conn:
                    break
                if okey(arrival.offset) is not None:
                    low = okey(arrival.offset)
                    break
            high = INF
            for arrival in client.arrivals[frame.position:]:
                if okey(arrival.offset) is not None:
                    high = okey(arrival.offset)
                    break
            excuses.append((low or (0, 0), high))
        for event in run.events.values():
            if not event.acked or not client.entitled(event) or event.id in client.received_ids:
                continue
            key = okey(event.offset)
            if base_key is None or key is None or key <= base_key:
                continue
            if any(low < key < high for low, high in excuses):
                self.excused += 1
                continue
            owner = None
            for conn in conns:
                since_key = okey(conn.since) if conn.since is not None else base_key
                if conn.connected_offset is not None and since_key is not None and since_key < key:
                    owner = conn
            if owner is None:
                self.violation("missing", client, f"{event.describe()} offset {event.offset}: never arrived (no connection owed it?); {self.fault_near(event.published_at)}",
                               (event.stream.split(':')[0], "-", "-"))
                self.missing_breakdown[(event.stream.split(':')[0], "-", "-")] += 1
                continue
            connected_key = okey(owner.connected_offset)
            live = connected_key is None or key > connected_key
            category = (event.stream.split(':')[0], owner.mode, "live" if live else "replay")
            self.missing_breakdown[category] += 1
            self.violation("missing", client,
                           f"{event.describe()} offset {event.offset}: never arrived; owed by connection {owner.index} "
                           f"(node {owner.node}, mode {owner.mode}, since {owner.since}, connected {owner.connected_offset}, "
                           f"open {owner.opened_at:.2f}s–{owner.closed_at if owner.closed_at is None else round(owner.closed_at, 2)}s, "
                           f"{owner.end}); {self.fault_near(event.published_at)}", category)

    def report(self) -> int:
        run = self.run
        clients = run.clients
        for client in clients:
            self.check_client(client)
        self.violations["node_crash"].extend((None, crash) for crash in run.cluster.crashes)
        events = list(run.events.values())
        acked = [e for e in events if e.acked]
        print()
        print("=" * 100)
        print(f"herald fault run — seed {run.opts.seed}")
        print(f"events: {len(events)} published ({sum(e.method == 'fcall' for e in events)} FCALL, "
              f"{sum(e.method == 'http' for e in events)} HTTP; {sum(e.marker for e in events)} markers), "
              f"{len(acked)} acknowledged ({sum(e.method == 'fcall' for e in acked)} FCALL, "
              f"{sum(e.method == 'http' for e in acked)} HTTP), {len(events) - len(acked)} not acknowledged")
        if run.fcall_failures or run.http_failures:
            print(f"  not acknowledged: FCALL {dict(run.fcall_failures)}; HTTP {dict(run.http_failures)}")
        entitled_acked = sum(1 for c in clients for e in acked
                             if c.entitled(e) and okey(c.base) is not None and okey(e.offset) > okey(c.base))
        deliveries = sum(len(c.arrivals) for c in clients)
        print(f"deliveries: {deliveries} frames to {len(clients)} clients ({entitled_acked} acknowledged events owed in all; "
              f"{self.redelivered_asked} re-deliveries the clients asked for by resuming from an earlier offset, "
              f"{sum(c.rewinds for c in clients)} such resumes)")
        conns = [conn for c in clients for conn in c.connections]
        established = [conn for conn in conns if conn.connected_offset is not None]
        print(f"connections: {len(conns)} opened, {len(established)} got connected, "
              f"{len(established) - len(clients)} reconnects; modes {dict(collections.Counter(c.mode for c in conns))}")
        print(f"  ends: {dict(collections.Counter(conn.end for conn in conns).most_common())}")
        failures = collections.Counter()
        for c in clients:
            failures.update(c.handshake_failures)
        if failures:
            print(f"  refused or failed handshakes: {dict(failures)}")
        kinds = collections.Counter(f.kind for f in run.faults)
        print(f"faults: {sum(kinds.values())} — " + ", ".join(f"{k} {kinds.get(k, 0)}" for k in FAULT_KINDS))
        frames = [f for c in clients for f in c.recoveries]
        false_frames = [f for f in frames if not f.recovered]
        print(f"recovery frames: {len(frames)}; gaps reported (recovered:false): {len(false_frames)} "
              f"{dict(collections.Counter(f.reason for f in false_frames))}; events excused by them: {self.excused}")
        errors = [e for c in clients for e in c.errors]
        unexpected = [u for c in clients for u in c.unexpected]
        if errors:
            print(f"error frames / client errors: {len(errors)}, e.g. {errors[:3]}")
        if unexpected:
            print(f"unexpected frames: {len(unexpected)}, e.g. {unexpected[:3]}")
        for warning in run.cluster.warnings:
            print(f"harness warning: {warning}")
        for overrun in run.cluster.drain_overruns:
            print(f"slow drain: {overrun}")
        epochs = collections.defaultdict(set)
        for e in acked:
            epochs[e.account].add(parse_offset(e.offset)[0])
        changed = {a: sorted(v) for a, v in epochs.items() if len(v) > 1}
        if changed:
            print(f"history epochs changed during the run (history lost): {changed}")
        missing_markers = [c.name for c in clients if not self.expected_markers[c.spec.index] <= c.markers]
        if missing_markers:
            print(f"clients without every end marker: {len(missing_markers)}")
        total = sum(len(v) for v in self.violations.values())
        print(f"violations: {total} — " + ", ".join(f"{k} {len(v)}" for k, v in self.violations.items()))
        for kind, items in self.violations.items():
            if not items:
                continue
            print(f"  {kind} ({len(items)}), up to {self.MAX_EXAMPLES} examples:")
            for text in self.examples(items):
                print(f"    - {text}")
            if kind == "missing":
                print("    by (stream, mode of the connection that owed it, live or replay): " +
                      ", ".join(f"{s}/{m}/{l} {n}" for (s, m, l), n in self.missing_breakdown.most_common()))
        passed = len(clients) - len(self.failed_clients)
        print(f"fault: {passed} passed, {len(self.failed_clients)} failed")
        verdict = "PASS" if total == 0 else "FAIL"
        print(f"result: {verdict} (seed {run.opts.seed}; repeat with: {run.opts.repeat})")
        return 0 if total == 0 else 1


# ---------------------------------------------------------------------------------------------
# Entry point


def parse_args(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Herald randomized fault test (see Tests/Fault/README.md).")
    parser.add_argument("--seed", type=int, default=None, help="seed (default: random, printed)")
    parser.add_argument("--smoke", action="store_true", help="the short form: 30 s of faults (about a minute in all)")
    parser.add_argument("--duration", type=float, default=None, help="seconds of faults (default 120; --smoke 30)")
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--accounts", type=int, default=4)
    parser.add_argument("--users", type=int, default=3, help="users per account")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--rate", type=float, default=8.0, help="events per second per account")
    parser.add_argument("--fault-gap", type=float, default=2.5, help="mean seconds between faults, per fault loop")
    parser.add_argument("--faults", default=",".join(FAULT_KINDS), help="comma-separated fault kinds")
    parser.add_argument("--channels", default=",".join(CHANNELS),
                        help="the sub-channels clients may want; empty: no sub-channel events at all")
    parser.add_argument("--modes", default=",".join(MODES),
                        help="how clients take their sub-channels: query (?channels=), after (subscribe after "
                             "connected), before (subscribe before reading connected)")
    parser.add_argument("--client-life", type=float, default=8.0, help="mean seconds a connection lives before a planned drop")
    parser.add_argument("--quiet", type=float, default=3.0, help="seconds of publishing without faults at the end")
    parser.add_argument("--settle-timeout", type=float, default=20.0, help="seconds to wait for the end markers")
    parser.add_argument("--drain-seconds", type=int, default=3, help="HERALD_DRAIN_SECONDS of the nodes")
    parser.add_argument("--edge-node", default=os.environ.get("HERALD_EDGE_NODE", ".build/debug/edge-node"))
    parser.add_argument("--redis-server", default=os.environ.get("HERALD_REDIS_SERVER") or shutil.which("redis-server") or "redis-server")
    parser.add_argument("--keep", action="store_true", help="keep the tmpdir (logs, AOF) instead of deleting it")
    opts = parser.parse_args(argv)
    if opts.seed is None:
        opts.seed = int.from_bytes(os.urandom(4), "big")
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--seed":
            skip = True
        elif not arg.startswith("--seed="):
            kept.append(arg)
    opts.repeat = " ".join(["scripts/fault.sh", "--seed", str(opts.seed)] + [shlex.quote(a) for a in kept])
    if opts.duration is None:
        opts.duration = 30.0 if opts.smoke else 120.0
    opts.faults = [k for k in opts.faults.split(",") if k]
    opts.modes = [m for m in opts.modes.split(",") if m]
    CHANNELS[:] = [c for c in opts.channels.split(",") if c]
    for k in opts.faults:
        if k not in FAULT_KINDS:
            parser.error(f"unknown fault kind {k!r}; known: {', '.join(FAULT_KINDS)}")
    for m in opts.modes:
        if m not in MODES:
            parser.error(f"unknown mode {m!r}; known: {', '.join(MODES)}")
    if not opts.modes:
        parser.error("--modes needs at least one mode")
    if opts.duration <= 0 or opts.duration > 7200 or opts.clients < 1 or opts.clients > 2000:
        parser.error("--duration must be in (0, 7200] and --clients in [1, 2000]")
    for path, what in ((opts.edge_node, "edge-node (build it: swift build --product edge-node, or set HERALD_EDGE_NODE)"),
                       (opts.redis_server, "redis-server (set HERALD_REDIS_SERVER)")):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            parser.error(f"{path}: not an executable {what}")
    opts.edge_node = os.path.abspath(opts.edge_node)
    opts.redis_server = os.path.abspath(opts.redis_server)
    return opts


async def amain(opts) -> int:
    tmp = tempfile.mkdtemp(prefix="herald-fault-")
    run = Run(opts, tmp)
    import atexit
    atexit.register(run.cluster.kill_now)
    main_task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, main_task.cancel)
    code = 2
    started = time.monotonic()
    try:
        limit = opts.duration + opts.quiet + opts.settle_timeout + 240
        code = await asyncio.wait_for(run.execute(), limit)
    except HarnessError as error:
        print(f"fault run: harness error: {error}", file=sys.stderr)
        code = 2
    except asyncio.TimeoutError:
        print("fault run: harness error: the run exceeded its time limit", file=sys.stderr)
        code = 2
    except asyncio.CancelledError:
        print("fault run: interrupted", file=sys.stderr)
        code = 130
    finally:
        await run.cluster.shutdown()
        if code in (1, 2):
            for i in range(opts.nodes):
                path = os.path.join(tmp, f"node-{i}.log")
                if os.path.exists(path):
                    with open(path, "rb") as f:
                        lines = [line for line in f.read().decode(errors="replace").splitlines()
                                 if not line.startswith("--- start")]
                    print(f"node {i} logged {len(lines)} lines at warning or above"
                          + ("" if opts.keep else " (--keep keeps the logs)"))
        if opts.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"runtime: {time.monotonic() - started:.1f} s")
    return code


def main(argv=None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    print(f"herald fault run: seed {opts.seed}, {opts.duration:g} s of faults, {opts.clients} clients on "
          f"{opts.accounts} accounts x {opts.users} users, {opts.nodes} nodes, modes {','.join(opts.modes)}, "
          f"faults {','.join(opts.faults) or '-'}\nrepeat with: {opts.repeat}", flush=True)
    try:
        return asyncio.run(amain(opts))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
