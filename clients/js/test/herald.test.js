// Unit tests of herald.js's logic with a scripted WebSocket and mocked timers: node --test clients/js/test/
// The same behaviours against real nodes in real Chromium: Tests/Browser/.
import { test, mock, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { HeraldClient, HeraldError, Pacer, backoffDelay, compareOffsets, tokenExpiry } from "../herald.js";

/** A WebSocket whose "server" side the test drives. */
class FakeSocket {
  static all = [];
  constructor(url, protocols) {
    this.url = new URL(url);
    this.protocols = protocols;
    this.sent = [];
    this.closed = null;
    FakeSocket.all.push(this);
  }
  send(text) {
    this.sent.push({ at: Date.now(), message: JSON.parse(text) });
  }
  close(code, reason) {
    this.closed = { code, reason };
  }
  // server side
  push(event) {
    this.onmessage?.({ data: typeof event === "string" ? event : JSON.stringify(event) });
  }
  drop(code = 1006, reason = "") {
    this.onclose?.({ code, reason });
  }
  connected(fields = {}) {
    this.push({ type: "connected", connection_id: `n-${FakeSocket.all.length}`, node: "n", account: "42", user: "alice", heartbeat: 30, offset: "e:100-0", ...fields });
  }
  messages(type) {
    return this.sent.map((s) => s.message).filter((m) => !type || m.type === type);
  }
}

const last = () => FakeSocket.all[FakeSocket.all.length - 1];
/** Lets the client's awaited token() promise settle. */
const settle = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};
function jwt(claims) {
  const part = (object) => Buffer.from(JSON.stringify(object)).toString("base64url");
  return `${part({ alg: "HS256" })}.${part(claims)}.sig`;
}

let tokenCalls;
function makeClient(options = {}) {
  tokenCalls = [];
  return new HeraldClient({
    url: "ws://herald.test/ws",
    token: async (context) => {
      tokenCalls.push(context.reason);
      return jwt({ sub: "alice", exp: Math.floor(Date.now() / 1000) + 3600 });
    },
    WebSocket: FakeSocket,
    random: () => 0.5,
    ...options,
  });
}

async function connected(client, fields) {
  client.connect();
  await settle();
  last().connected(fields);
  return last();
}

beforeEach(() => {
  FakeSocket.all = [];
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_700_000_000_000 });
});
afterEach(() => mock.timers.reset());

/** Herald's flood control (Sources/EdgeNode/Session/MessageRateLimiter.swift) replayed over send times. */
function serverRefusals(times, { perSecond = 20, burst = 40 } = {}) {
  let tokens = burst;
  let at = times[0] ?? 0;
  let refused = 0;
  for (const t of times) {
    tokens = Math.min(burst, tokens + ((t - at) / 1000) * perSecond);
    at = t;
    if (tokens >= 1) tokens -= 1;
    else refused++;
  }
  return refused;
}

test("backoff is full jitter, doubling from 0.5 s to a 20 s cap", () => {
  const caps = [0, 1, 2, 3, 4, 5, 6, 7, 10].map((attempt) => backoffDelay(attempt, undefined, () => 0.999999));
  assert.deepEqual(caps, [499, 999, 1999, 3999, 7999, 15999, 19999, 19999, 19999]);
  assert.equal(backoffDelay(5, undefined, () => 0), 0);
  for (let i = 0; i < 1000; i++) {
    const delay = backoffDelay(3, { min: 500, max: 20000 });
    assert.ok(delay >= 0 && delay < 4000);
  }
});

test("the pacer stays under the node's flood limit for a long flush", () => {
  const pacer = new Pacer({ now: () => Date.now() });
  const times = [];
  let guard = 0;
  while (times.length < 500 && guard++ < 10_000) {
    const wait = pacer.take();
    if (wait === 0) times.push(Date.now());
    else mock.timers.tick(wait);
  }
  assert.equal(times.length, 500);
  assert.equal(serverRefusals(times), 0);
  // and it is not needlessly slow: 24 at once, then 16/s
  const seconds = (times[499] - times[0]) / 1000;
  assert.ok(seconds < (500 - 24) / 16 + 1, `took ${seconds} s`);
});

test("offsets compare within an epoch only; token expiry is read from the JWT", () => {
  assert.equal(compareOffsets("a:10-0", "a:9-5"), 1);
  assert.equal(compareOffsets("a:10-0", "a:10-1"), -1);
  assert.equal(compareOffsets("a:10-1", "a:10-1"), 0);
  assert.equal(compareOffsets("a:10-1", "b:10-1"), null);
  assert.equal(compareOffsets("junk", "a:1-1"), null);
  assert.equal(tokenExpiry(jwt({ exp: 1234 })), 1_234_000);
  assert.equal(tokenExpiry("not a jwt"), null);
});

test("200 sends queued offline are flushed after connecting, paced, each settled once", async () => {
  const client = makeClient();
  const results = new Map();
  for (let i = 0; i < 200; i++) {
    client.send("action", { i }).then(
      (ack) => results.set(i, (results.get(i) || 0) + 1),
      () => results.set(i, -100),
    );
  }
  const socket = await connected(client);
  let guard = 0;
  while (socket.messages("action").length < 200 && guard++ < 1000) {
    for (const m of socket.messages("action")) if (!m.acked) {
      m.acked = true;
      socket.push({ type: "ack", ref: m.id });
    }
    mock.timers.tick(100);
  }
  for (const m of socket.messages("action")) if (!m.acked) socket.push({ type: "ack", ref: m.id });
  await settle();
  assert.equal(socket.messages("action").length, 200);
  assert.equal(new Set(socket.messages("action").map((m) => m.id)).size, 200);
  assert.equal(serverRefusals(socket.sent.map((s) => s.at)), 0);
  assert.deepEqual([...results.values()].filter((n) => n !== 1), []);
  assert.equal(results.size, 200);
});

test("messages in flight when the connection drops are sent again on the next one", async () => {
  const client = makeClient();
  const first = await connected(client);
  const done = client.send("sendMessage", { text: "hi" });
  const id = first.messages("sendMessage")[0].id;
  first.drop(1006);
  mock.timers.tick(20000);
  await settle();
  const second = last();
  assert.notEqual(second, first);
  second.connected();
  assert.equal(second.messages("sendMessage")[0].id, id);
  second.push({ type: "ack", ref: id });
  assert.equal((await done).type, "ack");
});

test("send rejects with the node's error; request resolves on the reply, not the ack", async () => {
  const client = makeClient();
  const socket = await connected(client);
  const sent = client.send("nope", {});
  socket.push({ type: "error", code: "unknown_type", message: "no upstream", ref: socket.messages("nope")[0].id });
  await assert.rejects(sent, (error) => error instanceof HeraldError && error.code === "unknown_type");

  const seen = [];
  client.on("*", (event) => seen.push(event.type));
  const answer = client.request("dial", { number: "1" });
  const id = socket.messages("dial")[0].id;
  socket.push({ type: "ack", ref: id });
  socket.push({ type: "reply", ref: id, data: { ok: true } });
  assert.deepEqual((await answer).data, { ok: true });
  assert.deepEqual(seen, []); // answers are the caller's, not the listeners'

  const late = client.request("slow", null, { timeout: 500 });
  mock.timers.tick(600);
  await assert.rejects(late, (error) => error.code === "timeout");
});

test("the queue is bounded", async () => {
  const client = makeClient({ queueLimit: 3 });
  for (let i = 0; i < 3; i++) client.send("a").catch(() => {});
  await assert.rejects(client.send("a"), (error) => error.code === "queue_full");
});

test("reconnects resume from the newest offset with the sub-channels, and replays are deduplicated", async () => {
  const client = makeClient({ channels: ["inbox"] });
  const events = [];
  client.on("message.new", (event) => events.push(event.offset));
  const first = await connected(client, { offset: "e:100-0" });
  assert.equal(first.url.searchParams.get("channels"), "inbox");
  assert.equal(first.url.searchParams.get("since"), null);
  assert.deepEqual(first.protocols[0], "access_token");
  first.push({ offset: "e:101-0", type: "message.new" });
  first.push({ offset: "e:102-0", type: "message.new" });
  first.drop(1006);
  mock.timers.tick(1000);
  await settle();
  const second = last();
  assert.equal(second.url.searchParams.get("since"), "e:102-0");
  assert.equal(second.url.searchParams.get("channels"), "inbox");
  second.connected({ offset: "e:105-0" });
  second.push({ offset: "e:102-0", type: "message.new" }); // already had it
  second.push({ offset: "e:103-0", type: "message.new" });
  second.push({ type: "recovery", recovered: true, count: 2 });
  assert.deepEqual(events, ["e:101-0", "e:102-0", "e:103-0"]);
  assert.equal(client.lastOffset, "e:103-0");
});

test("a connection lost before a subscribe's ack resumes from its own start", async () => {
  const client = makeClient();
  const socket = await connected(client, { offset: "e:100-0" });
  client.subscribe("kpi");
  const subscribe = socket.messages("subscribe")[0];
  assert.equal(subscribe.channel, "kpi");
  socket.push({ offset: "e:110-0", type: "message.new" });
  socket.drop(1006);
  mock.timers.tick(1000);
  await settle();
  assert.equal(last().url.searchParams.get("since"), "e:100-0");
  assert.equal(last().url.searchParams.get("channels"), "kpi");
});

test("an acked subscribe resolves, and an older replayed event does not move the offset back", async () => {
  const client = makeClient();
  const socket = await connected(client, { offset: "e:100-0" });
  socket.push({ offset: "e:120-0", type: "x" });
  const ready = client.subscribe("kpi");
  socket.push({ offset: "e:110-0", type: "x", channel: "kpi" }); // the channel's missed event
  socket.push({ type: "ack", ref: socket.messages("subscribe")[0].id });
  assert.equal(await ready, "kpi");
  assert.equal(client.lastOffset, "e:120-0");
  socket.drop(1006);
  mock.timers.tick(1000);
  await settle();
  assert.equal(last().url.searchParams.get("since"), "e:120-0");
});

test("recovered:false emits resync and later resumes start from the new position", async () => {
  const client = makeClient({ since: "e:1-0" });
  const resyncs = [];
  client.on("resync", (r) => resyncs.push(r));
  const socket = await connected(client, { offset: "e:500-0" });
  assert.equal(socket.url.searchParams.get("since"), "e:1-0");
  socket.push({ type: "recovery", recovered: false, count: 0, reason: "out_of_window" });
  assert.deepEqual(resyncs, [{ reason: "out_of_window", channel: null, count: 0 }]);
  assert.equal(client.lastOffset, "e:500-0");
});

test("a drain (1012) reconnects at once; other closes back off", async () => {
  const client = makeClient({ backoff: { min: 5000, max: 5000 } });
  const statuses = [];
  client.on("status", (status, details) => statuses.push([status, details.code, details.delay]));
  const first = await connected(client);
  first.drop(1012, "draining");
  await settle();
  assert.equal(FakeSocket.all.length, 2);
  assert.deepEqual(statuses.at(-1), ["reconnecting", 1012, 0]);
  last().connected();
  last().drop(1006);
  await settle();
  assert.equal(FakeSocket.all.length, 2);
  assert.deepEqual(statuses.at(-1), ["reconnecting", 1006, 2500]);
  mock.timers.tick(2500);
  await settle();
  assert.equal(FakeSocket.all.length, 3);
});

test("an expired token (4003) is replaced before reconnecting; repeated refusals stop", async () => {
  const client = makeClient({ maxAuthFailures: 2 });
  const errors = [];
  client.on("error", (e) => errors.push(e.code));
  const first = await connected(client);
  first.drop(4003, "token_expired: the token has expired");
  await settle();
  assert.deepEqual(tokenCalls, ["connect", "expired"]);
  last().drop(4401, "unauthorized: bad signature");
  mock.timers.tick(20000);
  await settle();
  assert.equal(tokenCalls.at(-1), "unauthorized");
  last().drop(4401, "unauthorized: bad signature");
  await settle();
  assert.equal(client.status, "disconnected");
  assert.deepEqual(errors, ["unauthorized"]);
});

test("a forbidden request (4403) is not retried", async () => {
  const client = makeClient();
  client.connect();
  await settle();
  last().drop(4403, "account_mismatch: wrong account");
  mock.timers.tick(60000);
  await settle();
  assert.equal(FakeSocket.all.length, 1);
  assert.equal(client.status, "disconnected");
});

test("heartbeat at the announced interval; a missing pong replaces the connection", async () => {
  const client = makeClient({ pongTimeout: 2000 });
  const socket = await connected(client, { heartbeat: 5 });
  mock.timers.tick(5000);
  assert.equal(socket.messages("ping").length, 1);
  socket.push({ type: "pong" });
  mock.timers.tick(5000);
  assert.equal(socket.messages("ping").length, 2);
  mock.timers.tick(2000); // no pong
  assert.equal(socket.closed?.code, 4000);
  mock.timers.tick(1000);
  await settle();
  assert.equal(FakeSocket.all.length, 2);
});

test("the token is refreshed on the open connection before it expires", async () => {
  let n = 0;
  const client = makeClient({
    token: async () => jwt({ sub: "alice", n: n++, exp: Math.floor(Date.now() / 1000) + 9 }),
  });
  const socket = await connected(client);
  mock.timers.tick(5900);
  await settle();
  assert.equal(socket.messages("refresh").length, 0);
  mock.timers.tick(200);
  await settle();
  await settle();
  const refresh = socket.messages("refresh")[0];
  assert.ok(refresh, "a refresh was sent about 3 s before expiry");
  assert.equal(tokenExpiry(refresh.token) > Date.now() + 8000, true);
  socket.push({ type: "refreshed", exp: Math.floor(Date.now() / 1000) + 9, ref: refresh.id });
  mock.timers.tick(6100);
  await settle();
  await settle();
  assert.equal(socket.messages("refresh").length, 2);
});

test("typing is throttled, keeps the state fresh while typing and stops after 3 s of silence", async () => {
  const client = makeClient();
  const socket = await connected(client);
  for (let t = 0; t < 2500; t += 100) {
    client.typing("c1");
    mock.timers.tick(100);
  }
  const starts = socket.messages("typing.start");
  assert.ok(starts.length >= 3 && starts.length <= 4, `${starts.length} starts`);
  mock.timers.tick(2800);
  assert.equal(socket.messages("typing.stop").length, 0);
  mock.timers.tick(300);
  assert.deepEqual(socket.messages("typing.stop"), [{ type: "typing.stop", conversation_id: "c1" }]);
  client.typing("c2");
  client.stopTyping("c2");
  assert.equal(socket.messages("typing.stop").length, 2);
  const typing = [];
  client.on("typing", (t) => typing.push(t));
  socket.push({ type: "typing.start", data: { conversation_id: "c9", user: "bob" } });
  assert.deepEqual(client.typingUsers("c9"), ["bob"]);
  socket.push({ type: "typing.stop", data: { conversation_id: "c9", user: "bob" } });
  assert.deepEqual(typing.map((t) => t.users), [["bob"], []]);
});

test("the presence roster comes from presence.get after each connect, then joins and leaves", async () => {
  const client = makeClient({ presence: true });
  const socket = await connected(client);
  const get = socket.messages("presence.get")[0];
  assert.ok(get.id);
  socket.push({ type: "presence.join", data: { user: "carol" } }); // while the roster is read
  socket.push({ type: "presence.state", ref: get.id, users: [{ user: "alice", connections: 1 }, { user: "bob", connections: 2 }] });
  assert.deepEqual(client.presence.map((u) => u.user).sort(), ["alice", "bob", "carol"]);
  socket.push({ type: "presence.leave", data: { user: "bob" } });
  assert.deepEqual(client.presence.map((u) => u.user).sort(), ["alice", "carol"]);
  socket.drop(1012);
  await settle();
  last().connected();
  assert.equal(last().messages("presence.get").length, 1);
});

test("disconnect() stops everything and rejects what waits", async () => {
  const client = makeClient();
  await connected(client);
  const pending = client.send("x");
  client.disconnect();
  await assert.rejects(pending, (e) => e.code === "disconnected");
  assert.equal(client.status, "disconnected");
  mock.timers.tick(60000);
  await settle();
  assert.equal(FakeSocket.all.length, 1);
});
