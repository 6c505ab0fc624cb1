// Type declarations for herald.js (clients/js/README.md has the API with examples).

export declare const VERSION: string;

export type HeraldStatus = "connecting" | "connected" | "reconnecting" | "disconnected";

/** Why the client asks for a token: the first connect, a reconnect, after the node refused the
 *  last token (`unauthorized`, close 4401) or closed at its expiry (`expired`, close 4003), or a
 *  refresh of the open connection before expiry (`refresh`). */
export type TokenReason = "connect" | "reconnect" | "unauthorized" | "expired" | "refresh";

/** Any frame from the node: `{type, ...}`; events stored in history carry `offset`. */
export interface HeraldEvent {
  type: string;
  offset?: string;
  data?: unknown;
  ref?: string | number;
  [key: string]: unknown;
}

/** The first frame of every connection. */
export interface ConnectedFrame extends HeraldEvent {
  type: "connected";
  connection_id: string;
  node: string;
  account: string;
  user: string;
  heartbeat: number;
  offset: string | null;
}

export interface StatusDetails {
  /** The close code that ended the last connection (1012 drain, 4003 expired token, 1006 network, …). */
  code?: number;
  reason?: string;
  /** Milliseconds until the next attempt (0: at once). */
  delay?: number;
  connection?: string;
  node?: string;
  resumed?: boolean;
}

export interface ResyncDetails {
  /** `out_of_window`, `too_many`, `unavailable`, `history_lost`, `invalid_offset` (docs/protocol.md). */
  reason?: string;
  /** The sub-channel whose events could not all be had, or null for the whole connection. */
  channel: string | null;
  count?: number;
}

export interface PresenceUser {
  user: string;
  connections?: number;
  info?: unknown;
}

export interface TypingChange {
  conversationId: string;
  users: string[];
}

export interface HeraldClientOptions {
  /** `wss://host/ws` or `/ws/accounts/{account}/` (relative URLs resolve against the page; http(s) becomes ws(s)). */
  url: string;
  /** Returns a JWT for this user, fresh when `reason` asks for it; null/undefined stops the client. */
  token: string | ((context: { reason: TokenReason }) => Promise<string | null | undefined> | string | null | undefined);
  /** Sub-channels to join from the start (also `subscribe()` later). */
  channels?: string[];
  /** Resume from this offset on the first connect (e.g. one kept in storage). */
  since?: string | null;
  /** true: log to console.debug; a function: receives the log lines. */
  debug?: boolean | ((...args: unknown[]) => void);
  /** A WebSocket implementation (Node < 22: `import { WebSocket } from "ws"`); default globalThis.WebSocket. */
  WebSocket?: unknown;
  /** Full-jitter backoff between attempts, in ms. Default {min: 500, max: 20000}. */
  backoff?: { min?: number; max?: number };
  /** Client-side pacing under the node's flood limit (20/s, burst 40). Default {rate: 16, burst: 24}. */
  flood?: { rate?: number; burst?: number };
  /** Messages `send`/`request` may queue while offline. Default 1000; beyond: `queue_full`. */
  queueLimit?: number;
  /** Default timeout of `request()`, ms. Default 10000. */
  requestTimeout?: number;
  /** Time to get the `connected` frame after opening the socket, ms. Default 15000. */
  connectTimeout?: number;
  /** Time to wait for an answer to a heartbeat ping before replacing the connection, ms. Default 10000. */
  pongTimeout?: number;
  /** Refresh the token this long before its `exp` (at most a third of its life), ms; false: never. Default 60000. */
  refreshBeforeExpiry?: number | false;
  /** Least time between two `typing.start` messages per conversation, ms. Default 1000. */
  typingInterval?: number;
  /** Silence after which `typing()` stops by itself, ms. Default 3000. */
  typingTimeout?: number;
  /** Consecutive token refusals (4401/4003) before giving up. Default 3. */
  maxAuthFailures?: number;
  /** Keep the presence roster from the start (else `trackPresence()`). */
  presence?: boolean;
  /** "protocol" (default): the token goes in Sec-WebSocket-Protocol; "query": in ?token= (logged by proxies). */
  tokenTransport?: "protocol" | "query";
  /** Injected clock and randomness (tests). */
  now?: () => number;
  random?: () => number;
}

export interface SendOptions {
  /** Reject with `timeout` if unanswered after this many ms (0: never; queued time counts). */
  timeout?: number;
}

/** An error from the node (its `code`, e.g. `unknown_type`, `unavailable`, `channel_forbidden`) or
 *  from the client: `disconnected`, `timeout`, `queue_full`, `unauthorized`, `refused`, `token_failed`. */
export declare class HeraldError extends Error {
  code: string;
  ref?: string | number;
  closeCode?: number;
  reason?: string;
  constructor(code: string, message?: string, details?: object);
}

export declare class HeraldClient {
  constructor(options: HeraldClientOptions);
  readonly status: HeraldStatus;
  /** The current connection's `connected` frame (null before the first). */
  readonly connection: ConnectedFrame | null;
  /** The newest history offset received: where the next connection resumes. */
  readonly lastOffset: string | null;
  readonly channels: string[];
  /** The account's presence roster (after `trackPresence()` or `presence: true`). */
  readonly presence: PresenceUser[];

  connect(): this;
  disconnect(): void;

  on(type: "status", fn: (status: HeraldStatus, details: StatusDetails) => void): () => void;
  on(type: "resync", fn: (details: ResyncDetails) => void): () => void;
  on(type: "presence", fn: (users: PresenceUser[]) => void): () => void;
  on(type: "typing", fn: (change: TypingChange) => void): () => void;
  on(type: "error", fn: (error: HeraldError | HeraldEvent) => void): () => void;
  on(type: "connected", fn: (frame: ConnectedFrame) => void): () => void;
  on(type: string, fn: (event: HeraldEvent) => void): () => void;
  once(type: string, fn: (...args: any[]) => void): () => void;
  off(type: string, fn: (...args: any[]) => void): void;

  /** `{type, id, data}` upstream to the backend; resolves on `ack` (or the backend's `reply`). */
  send(type: string, data?: unknown, options?: SendOptions): Promise<HeraldEvent>;
  /** `{type, id, data}`; resolves with the first answer that is not an `ack` (the backend's reply). */
  request(type: string, data?: unknown, options?: SendOptions): Promise<HeraldEvent>;
  /** Any client message with a fresh `id`, queued and paced like `send`. */
  command(message: { type: string; [key: string]: unknown }, options?: SendOptions): Promise<HeraldEvent>;

  subscribe(channel: string): Promise<string>;
  unsubscribe(channel: string): void;

  typing(conversationId: string | number): boolean;
  stopTyping(conversationId: string | number): void;
  typingUsers(conversationId: string | number): string[];
  typingConversations(): TypingChange[];
  trackPresence(): void;
}

export declare function backoffDelay(attempt: number, range?: { min?: number; max?: number }, random?: () => number): number;
export declare function compareOffsets(a: string, b: string): -1 | 0 | 1 | null;
export declare function tokenExpiry(jwt: string): number | null;

export declare class Pacer {
  constructor(options?: { rate?: number; burst?: number; now?: () => number });
  reset(): void;
  /** 0 when a message may go now, else the milliseconds to wait. */
  take(): number;
  penalize(): void;
}

export default HeraldClient;
