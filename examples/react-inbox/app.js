// A small inbox on useAccountWebSocket: conversations and messages arrive live, the composer
// shows who types, and sending goes upstream to the backend (examples/inbox-worker answers it).
import { createElement as h, useState, useCallback } from "react";
import { createRoot } from "react-dom/client";
import { HeraldClient } from "../../clients/js/herald.js";
import { HeraldProvider } from "../../clients/js/react.js";
import { useAccountWebSocket } from "./useAccountWebSocket.js";

const params = new URLSearchParams(location.search);
const user = params.get("user") || "alice";
const account = params.get("account") || "42";
const client = new HeraldClient({
  url: params.get("herald") || "ws://127.0.0.1:8080/ws",
  // Your backend mints the token for the signed-in user; examples/serve.py does it for development.
  token: async ({ reason }) => {
    const response = await fetch(`/token?user=${encodeURIComponent(user)}&account=${encodeURIComponent(account)}&reason=${reason}`);
    return (await response.json()).token;
  },
  channels: ["inbox"],
});
client.connect();
window.herald = client;

function Inbox() {
  const [conversations, setConversations] = useState([]);
  const [messages, setMessages] = useState({});
  const [selected, setSelected] = useState(null);
  const [draft, setDraft] = useState("");
  const [notice, setNotice] = useState("");

  const onConversation = useCallback((conversation) => {
    setConversations((list) => [conversation, ...list.filter((c) => c.id !== conversation.id)]);
    setSelected((current) => current ?? conversation.id);
  }, []);
  const onMessage = useCallback((message) => {
    setMessages((all) => ({ ...all, [message.conversation_id]: [...(all[message.conversation_id] || []), message] }));
  }, []);
  const onResync = useCallback(() => setNotice("missed events: refetch the inbox from the REST API"), []);
  const { status, typingUsers, notifyTyping, sendMessage } = useAccountWebSocket({ conversationId: selected, onConversation, onMessage, onResync });

  const submit = async (event) => {
    event.preventDefault();
    const text = draft.trim();
    if (!text) return;
    setDraft("");
    try {
      await sendMessage(text);
      setNotice("sent (acked by the node)");
    } catch (error) {
      setNotice(`not sent: ${error.code} — ${error.message}`);
    }
  };

  return h("div", { className: "inbox" },
    h("header", null, h("b", null, `Inbox · ${user} @ ${account} `), h("span", { "data-testid": "status", className: `status ${status}` }, status)),
    h("div", { className: "panes" },
      h("ul", { className: "conversations", "data-testid": "conversations" },
        conversations.map((c) => h("li", { key: c.id, className: c.id === selected ? "selected" : "", onClick: () => setSelected(c.id) }, c.title || c.id))),
      h("section", { className: "thread" },
        h("ul", { className: "messages", "data-testid": "messages" },
          (messages[selected] || []).map((m) => h("li", { key: m.id }, h("b", null, `${m.author || "?"}: `), m.text))),
        h("div", { className: "typing", "data-testid": "typing" }, typingUsers.length ? `${typingUsers.join(", ")} ${typingUsers.length > 1 ? "are" : "is"} typing…` : ""),
        h("form", { onSubmit: submit },
          h("input", { "data-testid": "composer", value: draft, placeholder: selected ? "Write a message" : "no conversation yet", disabled: !selected,
            onChange: (event) => { setDraft(event.target.value); notifyTyping(); } }),
          h("button", { disabled: !selected }, "Send")),
        h("div", { className: "notice", "data-testid": "notice" }, notice))));
}

createRoot(document.getElementById("root")).render(h(HeraldProvider, { client }, h(Inbox)));
