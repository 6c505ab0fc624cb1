// The live console served by a node at /console (HERALD_CONSOLE=true): connect with a client token,
// watch events, publish through the HTTP API, see presence, typing and the node's metrics.
// Built on herald.js; everything it loads comes from the node itself.
import { HeraldClient } from "/console/herald.js";

const $ = (id) => document.getElementById(id);
const MAX_LOG = 500;
const METRICS = [
  ["herald_connections_count", "open connections"],
  ["herald_connections_opened_total", "connections opened"],
  ["herald_deliveries_total", "frames delivered", true],
  ["herald_events_received_total", "events from the broker", true],
  ["herald_api_publishes_total", "API publishes", true],
  ["herald_events_dropped_total", "events dropped"],
  ["herald_handshakes_refused_total", "handshakes refused"],
  ["herald_client_errors_total", "error frames sent"],
  ["herald_idle_closes_total", "idle closes (4000)"],
  ["herald_slow_consumer_closes_total", "slow consumer closes (4001)"],
  ["herald_token_refreshes_total", "token refreshes"],
  ["herald_token_expiry_closes_total", "token expiry closes (4003)"],
];

let client = null;
let paused = false;
const entries = [];

// A token may come in the fragment (never sent to a server): /console#token=eyJ…
const fragment = new URLSearchParams(location.hash.slice(1));
if (fragment.get("token")) $("token").value = fragment.get("token");
if (fragment.get("channels")) $("channels").value = fragment.get("channels");

function time() {
  return new Date().toISOString().slice(11, 23);
}

function log(type, body, kind = "") {
  const entry = { type, text: typeof body === "string" ? body : JSON.stringify(body), kind, time: time() };
  entries.push(entry);
  if (entries.length > MAX_LOG) entries.shift();
  if (!paused) render(entry);
}

function matches(entry) {
  const filter = $("filter").value.trim().toLowerCase();
  return !filter || entry.type.toLowerCase().includes(filter) || entry.text.toLowerCase().includes(filter);
}

function render(entry) {
  if (!matches(entry)) return;
  const row = document.createElement("div");
  row.className = `event ${entry.kind}`;
  for (const [name, text] of [["time", entry.time], ["type", entry.type], ["body", entry.text]]) {
    const cell = document.createElement("span");
    cell.className = name;
    cell.textContent = text;
    row.append(cell);
  }
  const list = $("log");
  list.prepend(row);
  while (list.childElementCount > MAX_LOG) list.lastElementChild.remove();
  $("count").textContent = `${entries.length} events`;
}

function rerender() {
  $("log").replaceChildren();
  for (const entry of entries) render(entry);
  $("count").textContent = `${entries.length} events`;
}

function setList(id, items, empty) {
  const list = $(id);
  list.replaceChildren();
  for (const text of items.length ? items : [empty]) {
    const item = document.createElement("li");
    item.textContent = text;
    if (!items.length) item.className = "empty";
    list.append(item);
  }
}

function showStatus(status) {
  const badge = $("status");
  badge.textContent = status;
  badge.className = `badge ${status}`;
  $("connect").disabled = status !== "disconnected";
  $("disconnect").disabled = status === "disconnected";
}

function connect() {
  const token = $("token").value.trim();
  if (!token) {
    $("connection").textContent = "paste a client token first";
    $("connection").className = "result bad";
    return;
  }
  const channels = $("channels").value.split(",").map((c) => c.trim()).filter(Boolean);
  client = new HeraldClient({ url: $("url").value || "/ws", token: async () => $("token").value.trim(), channels, presence: true });
  window.herald = client; // for the curious, from DevTools
  client.on("status", (status, details) => {
    showStatus(status);
    if (details.code !== undefined) log("status", `${status} (close ${details.code}${details.reason ? `: ${details.reason}` : ""}; retry in ${details.delay ?? "-"} ms)`, "client");
    else log("status", status, "client");
    if (status !== "connected") $("identity").textContent = "";
  });
  client.on("connected", (frame) => {
    $("identity").textContent = `${frame.user} @ ${frame.account} · ${frame.node} · ${frame.connection_id}`;
    $("connection").className = "result";
    $("connection").textContent = `offset ${frame.offset} · heartbeat ${frame.heartbeat} s`;
    if (!$("account").value) $("account").value = frame.account;
  });
  client.on("*", (event) => log(event.type ?? "(no type)", event, event.type === "error" ? "error" : ""));
  client.on("resync", (details) => log("resync", details, "client"));
  client.on("error", (error) => {
    if (error instanceof Error) log("client error", `${error.code}: ${error.message}`, "error");
  });
  client.on("presence", (users) =>
    setList("presence", users.map((u) => `${u.user}${u.connections ? ` ×${u.connections}` : ""}${u.info ? ` ${JSON.stringify(u.info)}` : ""}`), "nobody"),
  );
  client.on("typing", () => renderTyping());
  client.connect();
}

function renderTyping() {
  const items = (client?.typingConversations() || []).map(({ conversationId, users }) => `${users.join(", ")} typing in ${conversationId}`);
  setList("typing", items, "nobody is typing");
}

async function publish() {
  const result = $("publish-result");
  result.className = "result";
  let data;
  try {
    data = JSON.parse($("data").value || "null");
  } catch (error) {
    result.className = "result bad";
    result.textContent = `data is not JSON: ${error.message}`;
    return;
  }
  const body = { account: $("account").value.trim(), type: $("type").value.trim(), data, history: $("history").checked };
  if ($("target-user").value.trim()) body.user = $("target-user").value.trim();
  if ($("target-channel").value.trim()) body.channel = $("target-channel").value.trim();
  try {
    const response = await fetch("/api/v1/publish", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${$("apikey").value.trim()}` },
      body: JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({}));
    result.className = response.ok ? "result" : "result bad";
    result.textContent = response.ok ? `published · offset ${answer.offset ?? "none (live only)"}` : `${response.status} ${answer.error}: ${answer.message}`;
  } catch (error) {
    result.className = "result bad";
    result.textContent = `request failed: ${error.message}`;
  }
}

/** Prometheus text → {name: value}, summing the labelled series of a name. */
export function parseMetrics(text) {
  const values = {};
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const value = Number(match[3]);
    if (Number.isFinite(value)) values[match[1]] = (values[match[1]] ?? 0) + value;
  }
  return values;
}

let previous = null;
async function pollMetrics() {
  try {
    const response = await fetch("/metrics", { cache: "no-store" });
    const values = parseMetrics(await response.text());
    const now = performance.now();
    const table = $("metrics");
    table.replaceChildren();
    for (const [name, label, rate] of METRICS) {
      if (values[name] === undefined) continue;
      const row = table.insertRow();
      row.title = name;
      row.insertCell().textContent = label;
      let text = String(values[name]);
      if (rate && previous && now > previous.at) {
        const perSecond = ((values[name] - (previous.values[name] ?? 0)) * 1000) / (now - previous.at);
        text += ` (${perSecond.toFixed(perSecond < 10 ? 1 : 0)}/s)`;
      }
      row.insertCell().textContent = text;
    }
    previous = { values, at: now };
    $("metrics-age").textContent = `· ${time().slice(0, 8)}`;
  } catch (error) {
    $("metrics-age").textContent = `· unavailable (${error.message})`;
  }
}

$("connect").addEventListener("click", connect);
$("disconnect").addEventListener("click", () => {
  client?.disconnect();
  setList("presence", [], "not connected");
});
$("publish").addEventListener("click", publish);
$("typing-box").addEventListener("input", () => client?.typing($("conversation").value.trim() || "c1"));
$("typing-box").addEventListener("blur", () => client?.stopTyping($("conversation").value.trim() || "c1"));
$("filter").addEventListener("input", rerender);
$("pause").addEventListener("click", () => {
  paused = !paused;
  $("pause").textContent = paused ? "Resume" : "Pause";
  if (!paused) rerender();
});
$("clear").addEventListener("click", () => {
  entries.length = 0;
  rerender();
});
pollMetrics();
setInterval(pollMetrics, 2000);
if ($("token").value) connect();
