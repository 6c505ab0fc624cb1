// herald.js — the browser (and Node ≥ 20) client for Herald. One dependency-free ES module, no
// build step. Wire protocol: docs/protocol.md. API and behaviour: clients/js/README.md.

export const VERSION = "0.1.0";

/** Close codes after which retrying cannot help: the request itself is wrong (docs/protocol.md). */
const FATAL_CLOSES = new Set([4400, 4403]);
/** Close codes that mean "this token is not good (any more)": get a new one before retrying. */
const AUTH_CLOSES = new Set([4401, 4003]);
const DRAIN_CLOSE = 1012;

/** An error from the node (`code` is its machine-readable code) or from the client itself
 *  (`disconnected`, `timeout`, `queue_full`, `unauthorized`, `refused`). */
export class HeraldError extends Error {
  constructor(code, message, details) {
    super(message || code);
    this.name = "HeraldError";
    this.code = code;
    if (details) Object.assign(this, details);
  }
}

/** Full-jitter exponential backoff: a uniformly random delay in [0, min(max, min·2^attempt)). */
export function backoffDelay(attempt, { min = 500, max = 20000 } = {}, random = Math.random) {
  const cap = Math.min(max, min * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * cap);
}

/** A token bucket that keeps the client under the node's flood limit (20 messages/s, burst 40 by
 *  default): `take()` returns 0 when a message may go now, else the milliseconds to wait. */
export class Pacer {
  constructor({ rate = 16, burst = 24, now = () => Date.now() } = {}) {
    this.rate = rate;
    this.burst = burst;
    this.now = now;
    this.reset();
  }
  /** A new connection: the node's bucket starts full, so ours does too. */
  reset() {
    this.tokens = this.burst;
    this.at = this.now();
  }
  take() {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.rate) / 1000);
    this.at = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) * 1000) / this.rate);
  }
  /** The node said `rate_limited`: owe it a second's worth before sending again. */
  penalize() {
    this.take();
    this.tokens = Math.min(this.tokens, 0) - this.rate;
  }
}

/** Splits an offset `<epoch>:<ms>-<seq>` into its parts, or null. */
function parseOffset(offset) {
  const match = typeof offset === "string" && /^([0-9a-z]+):(\d+)-(\d+)$/.exec(offset);
  return match ? { epoch: match[1], ms: Number(match[2]), seq: Number(match[3]) } : null;
}

/** -1, 0 or 1 for two offsets of one history epoch; null when they cannot be compared. */
export function compareOffsets(a, b) {
  const x = parseOffset(a);
  const y = parseOffset(b);
  if (!x || !y || x.epoch !== y.epoch) return null;
  if (x.ms !== y.ms) return x.ms < y.ms ? -1 : 1;
  return x.seq === y.seq ? 0 : x.seq < y.seq ? -1 : 1;
}

/** The `exp` claim of a JWT in milliseconds, or null (the client never verifies tokens). */
export function tokenExpiry(jwt) {
  try {
    const part = String(jwt).split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
    return typeof claims.exp === "number" ? claims.exp * 1000 : null;
  } catch {
    return null;
  }
}

const DEFAULTS = {
  channels: [],
  since: null,
  debug: false,
  backoff: { min: 500, max: 20000 },
  flood: { rate: 16, burst: 24 },
  queueLimit: 1000,
  requestTimeout: 10000,
  connectTimeout: 15000,
  pongTimeout: 10000,
  refreshBeforeExpiry: 60000,
  typingInterval: 1000,
  typingTimeout: 3000,
  maxAuthFailures: 3,
  presence: false,
  tokenTransport: "protocol",
};

/**
 * One logical connection to Herald that survives reconnects: subscriptions, the last offset,
 * queued messages and presence are carried from one WebSocket to the next.
 */
export class HeraldClient {
  constructor(options = {}) {
    if (!options.url) throw new TypeError("HeraldClient: `url` is required");
    if (typeof options.token !== "function" && typeof options.token !== "string") {
      throw new TypeError("HeraldClient: `token` must be a function returning a JWT (or a JWT)");
    }
    this.options = { ...DEFAULTS, ...options };
    this.options.backoff = { ...DEFAULTS.backoff, ...options.backoff };
    this.options.flood = { ...DEFAULTS.flood, ...options.flood };
    this._now = options.now || (() => Date.now());
    this._random = options.random || Math.random;
    this._WebSocket = options.WebSocket || globalThis.WebSocket;
    this.status = "disconnected";
    /** The `connected` frame of the current connection (connection_id, node, account, user, heartbeat, offset). */
    this.connection = null;
    /** The newest history offset received: where the next connection resumes. */
    this.lastOffset = this.options.since;
    this._listeners = new Map();
    this._channels = new Set(this.options.channels);
    this._channelWaiters = new Map(); // channel -> [{resolve, reject}] until the node confirms it
    this._queue = []; // the app's messages waiting to be sent (kept across reconnects)
    this._control = []; // Herald's own messages for the current connection only, sent first
    this._pending = new Map(); // id -> entry awaiting its answer
    this._seen = new Set(); // offsets delivered lately, so a replay never delivers one twice
    this._seenOrder = [];
    this._idPrefix = Math.floor(this._random() * 36 ** 6).toString(36).padStart(6, "0");
    this._nextId = 0;
    this._attempt = 0;
    this._authFailures = 0;
    this._generation = 0;
    this._socket = null;
    this._conn = null;
    this._timers = {};
    this._pacer = new Pacer({ ...this.options.flood, now: this._now });
    this._roster = new Map();
    this._presenceTracked = !!this.options.presence;
    this._presenceRequest = null;
    this._typingOut = new Map();
    this._typingIn = new Map();
    this._token = typeof options.token === "string" ? null : options.token;
    this._staticToken = typeof options.token === "string" ? options.token : null;
    this._onWake = () => this._wake();
    this._onVisibility = () => {
      if (globalThis.document?.visibilityState === "visible") this._wake();
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Events

  /** Listens to events of one `type` (`"*"`: every event from the node) or to the client's own
   *  `status`, `resync`, `presence`, `typing` and `error`. Returns a function that stops listening. */
  on(type, fn) {
    if (!this._listeners.has(type)) this._listeners.set(type, new Set());
    this._listeners.get(type).add(fn);
    return () => this.off(type, fn);
  }

  off(type, fn) {
    this._listeners.get(type)?.delete(fn);
  }

  /** Like `on`, for the next matching event only. */
  once(type, fn) {
    const off = this.on(type, (...args) => {
      off();
      fn(...args);
    });
    return off;
  }

  _emit(type, ...args) {
    for (const fn of [...(this._listeners.get(type) || [])]) {
      try {
        fn(...args);
      } catch (error) {
        this._log("listener for", type, "threw", error);
      }
    }
  }

  _dispatch(event) {
    if (typeof event.type === "string") this._emit(event.type, event);
    this._emit("*", event);
  }

  _log(...args) {
    const debug = this.options.debug;
    if (typeof debug === "function") debug(...args);
    else if (debug) console.debug("[herald]", ...args);
  }

  _setStatus(status, details = {}) {
    const changed = status !== this.status;
    this.status = status;
    this._log("status", status, details);
    if (changed || details.code !== undefined) this._emit("status", status, details);
  }

  // ---------------------------------------------------------------------------------------------
  // Connecting

  /** Opens the connection (and keeps it open until `disconnect()`). */
  connect() {
    if (this.status !== "disconnected") return this;
    this._stopped = false;
    this._everConnected = false;
    this._attempt = 0;
    this._authFailures = 0;
    this._reason = "connect";
    globalThis.addEventListener?.("online", this._onWake);
    globalThis.addEventListener?.("offline", this._onWake);
    globalThis.document?.addEventListener?.("visibilitychange", this._onVisibility);
    this._setStatus("connecting");
    this._open();
    return this;
  }

  /** Closes the connection and stops reconnecting. Queued and unanswered messages are rejected
   *  with `disconnected`; subscriptions and the last offset are kept for a later `connect()`. */
  disconnect() {
    this._stop(null);
  }

  _stop(error) {
    this._stopped = true;
    this._generation++;
    globalThis.removeEventListener?.("online", this._onWake);
    globalThis.removeEventListener?.("offline", this._onWake);
    globalThis.document?.removeEventListener?.("visibilitychange", this._onVisibility);
    this._clearTimer("reconnect");
    const socket = this._socket;
    if (socket) {
      this._detach(socket);
      try {
        socket.close(1000, "client disconnect");
      } catch {}
    }
    this._endConnection();
    const reason = error || new HeraldError("disconnected", "the client was disconnected");
    for (const entry of [...this._queue, ...this._pending.values()]) this._settle(entry, null, reason);
    this._queue = [];
    this._pending.clear();
    for (const waiters of this._channelWaiters.values()) for (const w of waiters) w.reject(reason);
    this._channelWaiters.clear();
    if (error) this._emit("error", error);
    this._setStatus("disconnected", error ? { code: error.code, reason: error.message } : {});
  }

  /** A connection attempt is due now: the page became visible or the browser came online. */
  _wake() {
    if (this._stopped) return;
    if (this._timers.reconnect) {
      this._log("reconnecting at once: the page is visible / online");
      this._clearTimer("reconnect");
      this._open();
    } else if (this._conn?.connected) {
      this._ping(); // the socket may have died while the page slept: check now
    }
  }

  async _fetchToken(reason) {
    if (this._staticToken !== null) return this._staticToken;
    return await this._token({ reason });
  }

  async _open() {
    const generation = ++this._generation;
    this._clearTimer("reconnect");
    let token;
    try {
      token = await this._fetchToken(this._reason);
    } catch (error) {
      if (generation !== this._generation || this._stopped) return;
      this._log("token() failed", error);
      this._emit("error", new HeraldError("token_failed", `token() failed: ${error?.message || error}`, { cause: error }));
      return this._retry({ code: 0, reason: "token_failed" });
    }
    if (generation !== this._generation || this._stopped) return;
    if (token == null || token === "") {
      return this._stop(new HeraldError("unauthorized", "token() returned no token: not connecting"));
    }
    const since = this.lastOffset;
    const url = this._url(since, token);
    let socket;
    try {
      socket =
        this.options.tokenTransport === "query"
          ? new this._WebSocket(url)
          : new this._WebSocket(url, ["access_token", token]);
    } catch (error) {
      this._log("WebSocket constructor failed", error);
      return this._retry({ code: 0, reason: String(error?.message || error) });
    }
    this._socket = socket;
    this._conn = {
      socket,
      token,
      expiry: tokenExpiry(token),
      since,
      base: since,
      connected: false,
      resumed: since != null,
      channels: new Set(this._channels),
      pendingSubscribes: new Set(),
    };
    this._log("connecting", url.replace(/([?&]token=)[^&]*/, "$1…"));
    this._timer("connect", this.options.connectTimeout, () => this._abandon(4000, "no connected frame in time"));
    socket.onmessage = (message) => this._receive(socket, message.data);
    socket.onclose = (event) => this._closed(socket, event.code, event.reason);
    socket.onerror = () => this._log("socket error");
  }

  _url(since, token) {
    const base = globalThis.location?.href;
    const url = new URL(this.options.url, base);
    if (url.protocol === "http:") url.protocol = "ws:";
    if (url.protocol === "https:") url.protocol = "wss:";
    if (since) url.searchParams.set("since", since);
    else url.searchParams.delete("since");
    if (this._channels.size) url.searchParams.set("channels", [...this._channels].join(","));
    if (this.options.tokenTransport === "query") url.searchParams.set("token", token);
    return url.toString();
  }

  _detach(socket) {
    socket.onmessage = socket.onclose = socket.onerror = null;
    if (this._socket === socket) this._socket = null;
  }

  /** Gives up on a socket that stopped answering (no pong, no `connected`): a dead TCP
   *  connection may take minutes to report its close, so act as if it closed now. */
  _abandon(code, reason) {
    const socket = this._socket;
    if (!socket) return;
    this._log("abandoning the connection:", reason);
    this._detach(socket);
    try {
      socket.close(4000, reason.slice(0, 100));
    } catch {}
    this._closed(socket, code, reason, true);
  }

  _endConnection() {
    for (const name of ["connect", "heartbeat", "pong", "refresh", "flush"]) this._clearTimer(name);
    const conn = this._conn;
    this._conn = null;
    this._control = [];
    this._presenceRequest = null;
    // Messages in flight may or may not have reached the node: send them again on the next
    // connection (same id, so a backend can tell a repeat), ahead of the ones still queued.
    const inflight = [];
    for (const entry of [...this._pending.values()]) {
      if (entry.control) {
        this._pending.delete(entry.id);
        this._settle(entry, null, new HeraldError("disconnected", "the connection closed"));
      } else if (entry.sent) {
        entry.sent = false;
        this._pending.delete(entry.id);
        inflight.push(entry);
      }
    }
    this._queue.unshift(...inflight);
    for (const [, state] of this._typingOut) this._clearTyping(state);
    this._typingOut.clear();
    if (this._typingIn.size) {
      const conversations = [...this._typingIn.keys()];
      this._typingIn.clear();
      for (const conversationId of conversations) this._emit("typing", { conversationId, users: [] });
    }
    return conn;
  }

  _closed(socket, code, reason, abandoned = false) {
    if (!abandoned && socket !== this._socket) return;
    this._detach(socket);
    const conn = this._endConnection();
    if (this._stopped) return;
    // Where the next connection resumes: a subscribe that was not acked yet may still have had
    // older events of its channel on the way, so resume from this connection's own start then.
    if (conn?.connected && conn.pendingSubscribes.size && conn.base) {
      this._log("a subscribe was not acked: resuming from the connection's start", conn.base);
      this.lastOffset = conn.base;
    }
    this._log("closed", code, reason);
    if (FATAL_CLOSES.has(code)) {
      return this._stop(new HeraldError("refused", `the node refused the connection (${code}): ${reason}`, { closeCode: code, reason }));
    }
    if (AUTH_CLOSES.has(code)) {
      this._authFailures++;
      if (this._authFailures > this.options.maxAuthFailures) {
        return this._stop(
          new HeraldError("unauthorized", `the token was refused ${this._authFailures} times in a row (${code}): ${reason}`, { closeCode: code, reason }),
        );
      }
      this._reason = code === 4003 ? "expired" : "unauthorized";
      // The first refusal fetches a new token at once; repeated ones back off.
      return this._retry({ code, reason }, this._authFailures === 1 ? 0 : undefined);
    }
    this._reason = "reconnect";
    // A drained connection goes to another node at once; a drain refusing the attempt itself backs off.
    if (code === DRAIN_CLOSE && conn?.connected) return this._retry({ code, reason }, 0);
    this._retry({ code, reason });
  }

  _retry(details, delay) {
    if (this._stopped) return;
    if (delay === undefined) delay = backoffDelay(this._attempt++, this.options.backoff, this._random);
    this._setStatus(this.status === "connecting" && !this._everConnected ? "connecting" : "reconnecting", { ...details, delay });
    if (delay === 0) return this._open();
    this._timer("reconnect", delay, () => this._open());
  }

  // ---------------------------------------------------------------------------------------------
  // Receiving

  _receive(socket, data) {
    if (socket !== this._socket) return;
    const conn = this._conn;
    this._clearTimer("pong");
    if (data === "pong") return;
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      return this._log("not JSON:", data);
    }
    if (!event || typeof event !== "object") return;
    switch (event.type) {
      case "connected":
        return this._connected(conn, event);
      case "pong":
        return;
      case "recovery":
        this._recovery(conn, event);
        return this._dispatch(event);
      case "refreshed":
        this._pending.delete(event.ref);
        conn.expiry = typeof event.exp === "number" ? event.exp * 1000 : conn.expiry;
        this._scheduleRefresh(conn);
        return this._dispatch(event);
      case "presence.state":
        if (event.ref !== undefined && event.ref === this._presenceRequest?.id) return this._presenceState(event);
        return this._dispatch(event);
      case "presence.join":
      case "presence.leave":
        this._presenceChange(event);
        return this._dispatch(event);
      case "typing.start":
      case "typing.stop":
        this._typingEvent(event);
        return this._dispatch(event);
    }
    if (event.ref !== undefined && this._answer(conn, event)) return;
    if (event.type === "error" && event.code === "rate_limited") {
      this._log("rate_limited: slowing down");
      this._pacer.penalize();
    }
    if (typeof event.offset === "string") {
      if (this._seen.has(event.offset)) return this._log("duplicate dropped", event.offset);
      this._remember(event.offset);
      const order = compareOffsets(event.offset, this.lastOffset);
      if (order === null || order > 0) this.lastOffset = event.offset;
    }
    this._dispatch(event);
  }

  _remember(offset) {
    this._seen.add(offset);
    this._seenOrder.push(offset);
    if (this._seenOrder.length > 4096) this._seen.delete(this._seenOrder.shift());
  }

  _connected(conn, event) {
    this._clearTimer("connect");
    conn.connected = true;
    conn.info = event;
    this.connection = event;
    this._everConnected = true;
    this._attempt = 0;
    this._authFailures = 0;
    if (!conn.resumed) {
      // A fresh start: owed every event after the account's current position.
      conn.base = event.offset ?? null;
      if (this.lastOffset == null || compareOffsets(event.offset, this.lastOffset) === null) this.lastOffset = event.offset ?? null;
    }
    this._pacer.reset();
    this._startHeartbeat(conn, event.heartbeat);
    this._scheduleRefresh(conn);
    // Channels named in ?channels= were joined before this frame; with a resume they are caught
    // up at the recovery frame, else now.
    if (!conn.resumed) this._channelsReady(conn.channels);
    // Subscriptions made while the socket was opening are not in its URL: send them now.
    for (const channel of this._channels) if (!conn.channels.has(channel)) this._sendSubscribe(conn, channel);
    for (const channel of conn.channels) {
      if (!this._channels.has(channel)) {
        conn.channels.delete(channel);
        this._sendControl({ type: "unsubscribe", channel });
      }
    }
    if (this._presenceTracked) this._requestPresence();
    this._setStatus("connected", { connection: event.connection_id, node: event.node, resumed: conn.resumed });
    this._dispatch(event);
    this._flush();
  }

  _recovery(conn, event) {
    if (!event.channel) this._channelsReady(conn.channels);
    if (event.recovered) return;
    if (!event.channel && conn.info?.offset) {
      // Those events are gone: the app refetches, and later resumes start from here.
      conn.base = conn.info.offset;
      const order = compareOffsets(conn.info.offset, this.lastOffset);
      if (order === null || order > 0) this.lastOffset = conn.info.offset;
    }
    this._emit("resync", { reason: event.reason, channel: event.channel ?? null, count: event.count });
  }

  /** An event carrying `ref`: the answer to one of our messages, if we are waiting for it
   *  (then it is consumed, not dispatched). A request's `ack` only says the node stored it. */
  _answer(conn, event) {
    const entry = this._pending.get(event.ref);
    if (!entry) return false;
    if (entry.kind === "request" && event.type === "ack") return true;
    this._pending.delete(event.ref);
    if (event.type === "error") this._settle(entry, null, new HeraldError(event.code, event.message, { ref: event.ref }));
    else this._settle(entry, event);
    return true;
  }

  _settle(entry, value, error) {
    if (entry.done) return;
    entry.done = true;
    if (entry.timer) clearTimeout(entry.timer);
    entry.onSettle?.(value, error);
    if (error) entry.reject(error);
    else entry.resolve(value);
  }

  // ---------------------------------------------------------------------------------------------
  // Sending

  _id() {
    return `${this._idPrefix}-${++this._nextId}`;
  }

  /** Sends a message of Herald's own on the current connection only (never queued across reconnects). */
  _sendControl(message, onAnswer) {
    if (!this._conn?.connected) return null;
    const framed = { ...message };
    if (onAnswer) {
      const id = this._id();
      const entry = { id, kind: "control", control: true, resolve: (v) => onAnswer(v, null), reject: (e) => onAnswer(null, e), sent: false, done: false };
      this._pending.set(id, entry);
      framed.id = id;
      framed.__entry = entry;
    }
    this._control.push(framed);
    this._flush();
    return framed.id ?? null;
  }

  /**
   * Sends `{type, id, data}` to the backend (upstream). Resolves with the node's `ack` (or the
   * backend's `reply`), rejects with a HeraldError on `error`. Queued while offline (at most
   * `queueLimit`), then sent paced under the node's flood limit.
   */
  send(type, data, options = {}) {
    const message = { type };
    if (data !== undefined) message.data = data;
    return this._enqueue(message, "send", options.timeout ?? 0);
  }

  /** Sends `{type, id, data}` and resolves with the first event answering it (its `ref`) that is
   *  not an `ack`, e.g. `{type:"reply", ref, data}` published by the backend to this connection. */
  request(type, data, options = {}) {
    const message = { type };
    if (data !== undefined) message.data = data;
    return this._enqueue(message, "request", options.timeout ?? this.options.requestTimeout);
  }

  /** Sends any client message (`{type:"subscribe", channel:"x"}`, …) with a fresh `id` through the
   *  same queue and pacing, resolving with its answer. Low level: prefer the methods above. */
  command(message, options = {}) {
    return this._enqueue({ ...message }, "send", options.timeout ?? 0);
  }

  _enqueue(message, kind, timeout) {
    return new Promise((resolve, reject) => {
      if (this._queue.length >= this.options.queueLimit) {
        return reject(new HeraldError("queue_full", `more than ${this.options.queueLimit} messages are waiting to be sent`));
      }
      const id = this._id();
      const entry = { id, kind, message: { ...message, id }, resolve, reject, sent: false, done: false };
      if (timeout > 0) {
        entry.timer = setTimeout(() => {
          this._queue = this._queue.filter((e) => e !== entry);
          this._pending.delete(id);
          this._settle(entry, null, new HeraldError("timeout", `no answer to '${message.type}' within ${timeout} ms`));
        }, timeout);
      }
      this._queue.push(entry);
      this._flush();
    });
  }

  /** Sends what may go now (control messages first), then waits for the pacer. */
  _flush() {
    if (this._timers.flush) return;
    const conn = this._conn;
    while (conn?.connected && (this._control.length || this._queue.length)) {
      const wait = this._pacer.take();
      if (wait > 0) {
        this._timer("flush", wait, () => this._flush());
        return;
      }
      if (this._control.length) {
        const message = this._control.shift();
        const entry = message.__entry;
        delete message.__entry;
        if (entry) entry.sent = true;
        this._write(message);
      } else {
        const entry = this._queue.shift();
        entry.sent = true;
        this._pending.set(entry.id, entry);
        this._write(entry.message);
      }
    }
  }

  _write(message) {
    try {
      this._socket.send(JSON.stringify(message));
    } catch (error) {
      this._log("send failed", error);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Sub-channels

  /** Joins a sub-channel, now and on every reconnect. Resolves once the node has it and the
   *  channel's missed events have arrived; rejects when the node refuses it. */
  subscribe(channel) {
    const promise = new Promise((resolve, reject) => {
      if (!this._channelWaiters.has(channel)) this._channelWaiters.set(channel, []);
      this._channelWaiters.get(channel).push({ resolve, reject });
    });
    promise.catch(() => {}); // a rejection nobody awaits is reported through on("error") too
    if (!this._channels.has(channel)) {
      this._channels.add(channel);
      if (this._conn?.connected) this._sendSubscribe(this._conn, channel);
    } else if (this._conn?.connected && this._conn.channels.has(channel) && !this._conn.pendingSubscribes.has(channel)) {
      this._channelsReady([channel]);
    }
    return promise;
  }

  _sendSubscribe(conn, channel) {
    conn.channels.add(channel);
    conn.pendingSubscribes.add(channel);
    this._sendControl({ type: "subscribe", channel }, (answer, error) => {
      if (error?.code === "disconnected") return; // still pending: the close decides where to resume
      conn.pendingSubscribes.delete(channel);
      if (error) {
        this._channels.delete(channel);
        conn.channels.delete(channel);
        for (const waiter of this._channelWaiters.get(channel) || []) waiter.reject(error);
        this._channelWaiters.delete(channel);
        this._emit("error", error);
      } else {
        this._channelsReady([channel]);
      }
    });
  }

  _channelsReady(channels) {
    for (const channel of channels) {
      const waiters = this._channelWaiters.get(channel);
      this._channelWaiters.delete(channel);
      for (const waiter of waiters || []) waiter.resolve(channel);
    }
  }

  /** Leaves a sub-channel (and stops joining it on reconnect). */
  unsubscribe(channel) {
    if (!this._channels.delete(channel)) return;
    for (const waiter of this._channelWaiters.get(channel) || []) waiter.reject(new HeraldError("unsubscribed", `unsubscribed from '${channel}'`));
    this._channelWaiters.delete(channel);
    const conn = this._conn;
    if (conn?.connected && conn.channels.delete(channel)) {
      conn.pendingSubscribes.delete(channel);
      this._sendControl({ type: "unsubscribe", channel });
    }
  }

  /** The sub-channels this client joins. */
  get channels() {
    return [...this._channels];
  }

  // ---------------------------------------------------------------------------------------------
  // Heartbeat and token refresh

  _startHeartbeat(conn, seconds) {
    const interval = Math.max(1, Number(seconds) || 30) * 1000;
    conn.pongTimeout = Math.min(this.options.pongTimeout, interval);
    const beat = () => {
      this._ping();
      this._timer("heartbeat", interval, beat);
    };
    this._timer("heartbeat", interval, beat);
  }

  /** Pings now; a connection that sends nothing back within the pong timeout is replaced. */
  _ping() {
    const conn = this._conn;
    if (!conn?.connected || this._timers.pong) return;
    this._timer("pong", conn.pongTimeout ?? this.options.pongTimeout, () => this._abandon(4000, "no pong: the connection is dead"));
    this._sendControl({ type: "ping" });
  }

  _scheduleRefresh(conn) {
    this._clearTimer("refresh");
    const before = this.options.refreshBeforeExpiry;
    if (before === false || !conn.expiry || !this._token) return;
    const remaining = conn.expiry - this._now();
    // Refresh a minute before expiry, or after two thirds of a short token's life.
    const delay = Math.max(0, remaining - Math.min(before, remaining / 3));
    this._timer("refresh", delay, () => this._refresh(conn));
  }

  async _refresh(conn) {
    let token;
    try {
      token = await this._fetchToken("refresh");
    } catch (error) {
      this._log("token() failed for a refresh", error);
    }
    if (conn !== this._conn || !conn.connected) return;
    if (!token || token === conn.token) {
      // Nothing new to offer: try again later; at expiry the node closes with 4003 and the
      // reconnect asks for a new token.
      const remaining = conn.expiry - this._now();
      if (remaining > 2000) this._timer("refresh", Math.min(remaining / 2, 30000), () => this._refresh(conn));
      return;
    }
    conn.token = token;
    this._sendControl({ type: "refresh", token }, (answer, error) => {
      if (error) {
        this._log("refresh refused", error.code);
        this._emit("error", error);
      }
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Presence

  /** Starts keeping the account's presence roster (also the `presence` option). */
  trackPresence() {
    if (this._presenceTracked) return;
    this._presenceTracked = true;
    if (this._conn?.connected) this._requestPresence();
  }

  /** The users present in the account: `[{user, connections?, info?}]`. */
  get presence() {
    return [...this._roster.values()];
  }

  _requestPresence() {
    const request = { changes: [] };
    this._presenceRequest = request;
    request.id = this._sendControl({ type: "presence.get" }, (answer, error) => {
      if (error && this._presenceRequest === request) this._presenceRequest = null;
    });
  }

  _presenceState(event) {
    this._pending.delete(event.ref);
    const changes = this._presenceRequest?.changes || [];
    this._presenceRequest = null;
    this._roster = new Map((event.users || []).map((user) => [String(user.user), user]));
    // Joins and leaves that arrived while the roster was being read are newer than it.
    for (const change of changes) this._applyPresence(change);
    this._emit("presence", this.presence);
  }

  _presenceChange(event) {
    if (!this._presenceTracked) return;
    if (this._presenceRequest) this._presenceRequest.changes.push(event);
    this._applyPresence(event);
    this._emit("presence", this.presence);
  }

  _applyPresence(event) {
    const user = event.data?.user;
    if (user === undefined) return;
    if (event.type === "presence.join") {
      const known = this._roster.get(String(user));
      this._roster.set(String(user), { ...known, user, ...(event.data.info !== undefined ? { info: event.data.info } : {}) });
    } else {
      this._roster.delete(String(user));
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Typing

  /** Call on every keystroke: tells the others this user types in `conversationId` (at most one
   *  message per `typingInterval`), and stops by itself after `typingTimeout` without a call. */
  typing(conversationId) {
    const id = String(conversationId);
    if (!this._conn?.connected) return false;
    let state = this._typingOut.get(id);
    if (!state) this._typingOut.set(id, (state = { lastSent: -Infinity }));
    const now = this._now();
    const since = now - state.lastSent;
    if (since >= this.options.typingInterval) {
      this._sendTyping(id, state, "typing.start");
    } else if (!state.trailing) {
      // Keystrokes inside the interval: one more start at its end keeps the node's state fresh
      // until the last one.
      state.trailing = setTimeout(() => {
        state.trailing = null;
        if (this._typingOut.get(id) === state) this._sendTyping(id, state, "typing.start");
      }, this.options.typingInterval - since);
    }
    if (state.stop) clearTimeout(state.stop);
    state.stop = setTimeout(() => this.stopTyping(id), this.options.typingTimeout);
    return true;
  }

  /** Ends this user's typing in `conversationId` at once. */
  stopTyping(conversationId) {
    const id = String(conversationId);
    const state = this._typingOut.get(id);
    if (!state) return;
    this._clearTyping(state);
    this._typingOut.delete(id);
    if (this._conn?.connected) this._sendControl({ type: "typing.stop", conversation_id: id });
  }

  _sendTyping(id, state, type) {
    state.lastSent = this._now();
    this._sendControl({ type, conversation_id: id });
  }

  _clearTyping(state) {
    clearTimeout(state.trailing);
    clearTimeout(state.stop);
    state.trailing = state.stop = null;
  }

  /** Who else is typing in `conversationId` now. */
  typingUsers(conversationId) {
    return [...(this._typingIn.get(String(conversationId)) || [])];
  }

  /** Every conversation someone else types in now: `[{conversationId, users}]`. */
  typingConversations() {
    return [...this._typingIn].map(([conversationId, users]) => ({ conversationId, users: [...users] }));
  }

  _typingEvent(event) {
    const conversationId = event.data?.conversation_id;
    const user = event.data?.user;
    if (conversationId === undefined || user === undefined) return;
    const key = String(conversationId);
    const users = this._typingIn.get(key) || new Set();
    if (event.type === "typing.start") users.add(user);
    else users.delete(user);
    if (users.size) this._typingIn.set(key, users);
    else this._typingIn.delete(key);
    this._emit("typing", { conversationId: key, users: [...users] });
  }

  // ---------------------------------------------------------------------------------------------
  // Timers

  _timer(name, ms, fn) {
    this._clearTimer(name);
    this._timers[name] = setTimeout(() => {
      this._timers[name] = null;
      fn();
    }, ms);
  }

  _clearTimer(name) {
    if (this._timers[name]) clearTimeout(this._timers[name]);
    this._timers[name] = null;
  }
}

export default HeraldClient;
