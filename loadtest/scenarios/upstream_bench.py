#!/usr/bin/env python3
"""Upstream benchmark: client messages per second one node appends to the Redis stream (acks/s),
and the round trip client → stream → worker → event → client with the example inbox worker.

It starts redis-server and one edge node (a release build by default) on free loopback ports.
Phase 1 (throughput): C connections each keep W messages in flight (the next is sent when an ack
comes back) for D seconds, no worker running; acks/s and the ack latency. Phase 2 (round trip): the
example worker (examples/inbox-worker/worker.py) runs; C connections send `sendMessage` at R per
second in total for D seconds, and each measures from sending to receiving its own `message.new`
(published by the worker with history). Prints a JSON summary.

  .venv/bin/python loadtest/scenarios/upstream_bench.py [--edge-node .build/release/edge-node] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Upstream"))
from inbox_e2e import Cluster, Tab  # noqa: E402  (the same process helpers as the end-to-end test)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


class AckingTab(Tab):
    """A tab that keeps `window` messages in flight: each ack is timed and answered with the next message."""

    window = 50
    stop = 0.0

    async def open(self) -> "AckingTab":
        self.sent: dict[str, float] = {}
        self.latencies: list[float] = []
        self.counter = 0
        self.acked_in_window = 0
        await super().open()
        return self

    async def send_next(self) -> None:
        ref = f"{id(self)}-{self.counter}"
        self.counter += 1
        self.sent[ref] = time.monotonic()
        await self.socket.send(json.dumps({"type": "bench.message", "id": ref, "data": {"n": self.counter, "text": "x" * 100}}))

    async def read(self) -> None:
        async for text in self.socket:
            frame = json.loads(text)
            if frame.get("type") == "ack" and frame.get("ref") in self.sent:
                self.latencies.append(time.monotonic() - self.sent.pop(frame["ref"]))
                if time.monotonic() < self.stop:
                    self.acked_in_window += 1
                    await self.send_next()
            elif frame.get("type") == "error":
                raise RuntimeError(f"error frame: {frame}")


async def throughput(port: int, connections: int, window: int, seconds: float) -> dict:
    tabs = [await AckingTab(port, "bench", f"u{i}").open() for i in range(connections)]
    started = time.monotonic()
    for tab in tabs:
        tab.stop = started + seconds
        for _ in range(window):
            await tab.send_next()
    await asyncio.sleep(seconds + 2)  # the last acks come back
    latencies = [latency for tab in tabs for latency in tab.latencies]
    for tab in tabs:
        await tab.close()
    acked = sum(tab.acked_in_window for tab in tabs)
    return {"connections": connections, "window": window, "seconds": seconds, "acked": acked,
            "messages_per_second": round(acked / seconds), "ack_p50_ms": round(percentile(latencies, 0.5) * 1000, 2),
            "ack_p99_ms": round(percentile(latencies, 0.99) * 1000, 2)}


class TimedTab(Tab):
    """A tab that stamps each frame with its arrival time."""

    async def read(self) -> None:
        async for text in self.socket:
            frame = json.loads(text)
            frame["_at"] = time.monotonic()
            self.frames.append(frame)


async def round_trip_timed(cluster: Cluster, redis_url: str, port: int, connections: int, rate: float, seconds: float) -> dict:
    import redis
    redis.Redis.from_url(redis_url).delete("herald:upstream")  # the throughput phase's entries are not the worker's
    worker = cluster.worker("--redis-url", redis_url, "--group", "bench-workers")
    # One account per connection: each tab receives only its own events, so the client measures rather than queues.
    tabs = [await TimedTab(port, f"rt{i}", f"u{i}").open() for i in range(connections)]
    await asyncio.sleep(1.0)
    sent: dict[str, float] = {}
    total = int(rate * seconds)
    start = time.monotonic()
    for index in range(total):
        delay = start + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        key = f"m{index}"
        sent[key] = time.monotonic()
        await tabs[index % connections].send(
            {"type": "sendMessage", "id": key, "data": {"conversation_id": "bench", "text": "hi", "client_message_id": key}})

    def own_events() -> dict[str, float]:
        found = {}
        for index, tab in enumerate(tabs):
            for frame in tab.frames:
                if frame.get("type") == "message.new":
                    key = frame["data"].get("client_message_id", "")
                    if key in sent and int(key[1:]) % connections == index:
                        found.setdefault(key, frame["_at"])
        return found

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(own_events()) < total:
        await asyncio.sleep(0.05)
    events = own_events()
    latencies = [events[key] - sent[key] for key in events]
    for tab in tabs:
        await tab.close()
    worker.kill()
    worker.wait()
    return {"connections": connections, "rate_per_second": rate, "sent": total, "received": len(events),
            "round_trip_p50_ms": round(percentile(latencies, 0.5) * 1000, 2),
            "round_trip_p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
            "round_trip_max_ms": round(max(latencies) * 1000, 2) if latencies else None}


async def main() -> None:
    parser = argparse.ArgumentParser()
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    parser.add_argument("--edge-node", default=os.path.join(root, ".build", "release", "edge-node"))
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rate", type=float, default=200, help="round-trip phase: requests per second in total")
    parser.add_argument("--smoke", action="store_true", help="a few seconds, to check the scenario runs")
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.connections, args.window, args.rate = 2, 4, 10, 50
    cluster = Cluster(os.path.abspath(args.edge_node))
    try:
        redis_url = cluster.redis()
        # Flood control is per connection (20/s by default); raise it so the node, not the limiter, is measured.
        port = cluster.node(HERALD_REDIS_URL=redis_url, HERALD_CLIENT_RATE="100000", HERALD_CLIENT_BURST="100000")
        summary = {
            "throughput": await throughput(port, args.connections, args.window, args.seconds),
            "round_trip": await round_trip_timed(cluster, redis_url, port, max(1, args.connections // 2), args.rate, args.seconds),
        }
    finally:
        cluster.close()
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
