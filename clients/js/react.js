// React hooks over herald.js (React ≥ 18). No build step: `react` is imported by name, so a
// bundler, Node or an import map resolves it. See clients/js/README.md and examples/.
import { createContext, createElement, useCallback, useContext, useEffect, useRef, useState, useSyncExternalStore } from "react";
import { HeraldClient } from "./herald.js";

const HeraldContext = createContext(null);

/** Makes `client` the one `useHerald()` returns below it. The provider does not connect it. */
export function HeraldProvider({ client, children }) {
  return createElement(HeraldContext.Provider, { value: client }, children);
}

/**
 * The HeraldClient of the nearest `HeraldProvider`; or, given options, a client owned by this
 * component: created once, connected while the component is mounted, disconnected after.
 */
export function useHerald(options) {
  const provided = useContext(HeraldContext);
  const own = useRef(null);
  if (options && !own.current) own.current = new HeraldClient(options);
  const client = own.current || provided;
  useEffect(() => {
    if (!own.current) return undefined;
    own.current.connect();
    return () => own.current.disconnect();
  }, []);
  if (!client) throw new Error("useHerald: no HeraldProvider above this component, and no options given");
  return client;
}

/** The client passed in, else the provider's (context is read either way, so hook order never changes). */
function useClient(client) {
  const provided = useContext(HeraldContext);
  const target = client || provided;
  if (!target) throw new Error("herald/react: pass a client, or render inside a HeraldProvider");
  return target;
}

/** Calls `handler(event)` for every event of `type` ("*" for all, or status/resync/presence/typing/error)
 *  while mounted; the latest handler is used without re-subscribing. */
export function useHeraldEvent(type, handler, client) {
  const target = useClient(client);
  const latest = useRef(handler);
  latest.current = handler;
  useEffect(() => target.on(type, (...args) => latest.current(...args)), [target, type]);
}

/** The client's status: "connecting" | "connected" | "reconnecting" | "disconnected". */
export function useHeraldStatus(client) {
  const target = useClient(client);
  return useSyncExternalStore(
    useCallback((notify) => target.on("status", notify), [target]),
    () => target.status,
    () => "disconnected",
  );
}

/** Joins a sub-channel while mounted (and on every reconnect); `{ready, error}` tell when it is caught up. */
export function useChannel(channel, client) {
  const target = useClient(client);
  const [state, setState] = useState({ ready: false, error: null });
  useEffect(() => {
    if (!channel) return undefined;
    let live = true;
    setState({ ready: false, error: null });
    target.subscribe(channel).then(
      () => live && setState({ ready: true, error: null }),
      (error) => live && setState({ ready: false, error }),
    );
    return () => {
      live = false;
      target.unsubscribe(channel);
    };
  }, [target, channel]);
  return state;
}

/**
 * Typing in one conversation: `users` who else types there now, `notify()` to call on every
 * keystroke (throttled; stops by itself after 3 s of silence), `stop()` when the message is sent.
 */
export function useTyping(conversationId, client) {
  const target = useClient(client);
  const [users, setUsers] = useState(() => (conversationId ? target.typingUsers(conversationId) : []));
  useEffect(() => {
    if (!conversationId) return undefined;
    const key = String(conversationId);
    setUsers(target.typingUsers(key));
    const off = target.on("typing", (change) => {
      if (change.conversationId === key) setUsers(change.users);
    });
    return () => {
      off();
      target.stopTyping(key);
    };
  }, [target, conversationId]);
  const notify = useCallback(() => conversationId && target.typing(conversationId), [target, conversationId]);
  const stop = useCallback(() => conversationId && target.stopTyping(conversationId), [target, conversationId]);
  return { users, notify, stop };
}

/** The account's presence roster `[{user, connections?, info?}]`, kept live (refreshed after each reconnect). */
export function usePresence(client) {
  const target = useClient(client);
  const [users, setUsers] = useState(() => target.presence);
  useEffect(() => {
    target.trackPresence();
    setUsers(target.presence);
    return target.on("presence", setUsers);
  }, [target]);
  return users;
}
