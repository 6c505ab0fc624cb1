// A small dialer on useDialer: live calls, who of the team is online, KPIs, and a dial pad whose
// requests a backend answers (see README.md for a reply published with curl).
import { createElement as h, useState } from "react";
import { createRoot } from "react-dom/client";
import { HeraldClient } from "../../clients/js/herald.js";
import { HeraldProvider } from "../../clients/js/react.js";
import { useDialer } from "./useDialer.js";

const params = new URLSearchParams(location.search);
const user = params.get("user") || "agent-1";
const account = params.get("account") || "42";
const client = new HeraldClient({
  url: params.get("herald") || "ws://127.0.0.1:8080/ws",
  token: async ({ reason }) => (await (await fetch(`/token?user=${encodeURIComponent(user)}&account=${encodeURIComponent(account)}&reason=${reason}`)).json()).token,
});
client.connect();
window.herald = client;

function Dialer() {
  const { status, agents, calls, kpi, dial, hangUp } = useDialer();
  const [number, setNumber] = useState("");
  const [result, setResult] = useState("");
  const call = async (event) => {
    event.preventDefault();
    setResult("dialling…");
    try {
      setResult(`answer: ${JSON.stringify(await dial(number))}`);
    } catch (error) {
      setResult(`${error.code}: ${error.message}`);
    }
  };
  return h("div", null,
    h("header", null, h("b", null, `Dialer · ${user} `), h("span", { "data-testid": "status", className: `status ${status}` }, status)),
    h("main", null,
      h("section", null, h("h3", null, "Dial"),
        h("form", { onSubmit: call }, h("input", { value: number, onChange: (e) => setNumber(e.target.value), placeholder: "+33 1 23 45 67 89" }), h("button", null, "Call")),
        h("div", { "data-testid": "dial-result" }, result)),
      h("section", null, h("h3", null, "Calls"),
        h("ul", { "data-testid": "calls" }, calls.map((c) => h("li", { key: c.call_id }, `${c.from || "?"} — ${c.state || "ringing"} `, h("button", { onClick: () => hangUp(c.call_id) }, "Hang up"))))),
      h("section", null, h("h3", null, "Team online"),
        h("ul", { "data-testid": "agents" }, agents.map((a) => h("li", { key: a.user }, a.user)))),
      h("section", null, h("h3", null, "KPIs"), h("pre", { "data-testid": "kpi" }, kpi ? JSON.stringify(kpi) : "—"))));
}

createRoot(document.getElementById("root")).render(h(HeraldProvider, { client }, h(Dialer)));
