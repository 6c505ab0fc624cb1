// What Tests/Browser/browser_run.py drives: named HeraldClients whose every event, status change,
// token request and promise outcome is recorded for the test to read back.
import { HeraldClient } from "/clients/js/herald.js";

const clients = {};
const logs = {};
const gates = {};

function record(list, item, cap = 5000) {
  list.push(item);
  if (list.length > cap) list.shift();
}

window.H = {
  clients,
  logs,
  ready: true,

  /** A client `name` for `user` of `account`; tokens come from the page's server (/token). */
  make(name, { url, user = "alice", account = "42", channels = [], ttl = 600, tokenChannels = "*", options = {} }) {
    const log = (logs[name] = { events: [], statuses: [], resyncs: [], errors: [], presence: null, typing: [], tokens: [], results: {}, debug: [] });
    const client = new HeraldClient({
      url,
      channels,
      token: async ({ reason }) => {
        record(log.tokens, { reason, at: Date.now() });
        if (gates[name]) await gates[name].promise;
        const response = await fetch(`/token?user=${encodeURIComponent(user)}&account=${encodeURIComponent(account)}&channels=${encodeURIComponent(tokenChannels)}&ttl=${ttl}&reason=${reason}`);
        return (await response.json()).token;
      },
      debug: (...args) => record(log.debug, `${Date.now()} ${args.map((a) => (typeof a === "string" ? a : a instanceof Error ? a.message : JSON.stringify(a))).join(" ")}`, 500),
      ...options,
    });
    client.on("*", (event) => record(log.events, { ...event, _at: Date.now() }));
    client.on("status", (status, details) => record(log.statuses, { status, code: details.code, delay: details.delay, reason: details.reason, node: details.node, at: Date.now() }));
    client.on("resync", (details) => record(log.resyncs, details));
    client.on("error", (error) => record(log.errors, { code: error.code, message: error.message }));
    client.on("presence", (users) => (log.presence = users.map((u) => String(u.user)).sort()));
    client.on("typing", (change) => record(log.typing, { ...change, at: Date.now() }));
    clients[name] = client;
    return true;
  },

  /** Holds `name`'s token requests (so it stays offline) until `open(name)`. */
  hold(name) {
    let release;
    const promise = new Promise((resolve) => (release = resolve));
    gates[name] = { promise, release };
  },
  open(name) {
    gates[name]?.release();
    delete gates[name];
  },

  /** Records how `promise` settles under logs[name].results[key]: {ok, value|code, count}. */
  track(name, key, promise) {
    const results = logs[name].results;
    promise.then(
      (value) => {
        const previous = results[key];
        results[key] = { ok: true, type: value?.type, data: value?.data, count: (previous?.count || 0) + 1, at: Date.now() };
      },
      (error) => {
        const previous = results[key];
        results[key] = { ok: false, code: error?.code, message: error?.message, count: (previous?.count || 0) + 1, at: Date.now() };
      },
    );
  },
};
