// Type declarations for herald.js's React hooks (react.js).
import type { ReactNode, ReactElement } from "react";
import type { HeraldClient, HeraldClientOptions, HeraldEvent, HeraldStatus, PresenceUser } from "./herald.js";

export declare function HeraldProvider(props: { client: HeraldClient; children?: ReactNode }): ReactElement;
/** The provider's client; with options, a client owned (connected/disconnected) by this component. */
export declare function useHerald(options?: HeraldClientOptions): HeraldClient;
export declare function useHeraldEvent(type: string, handler: (event: HeraldEvent | any, ...rest: any[]) => void, client?: HeraldClient): void;
export declare function useHeraldStatus(client?: HeraldClient): HeraldStatus;
export declare function useChannel(channel: string | null | undefined, client?: HeraldClient): { ready: boolean; error: Error | null };
export declare function useTyping(conversationId: string | number | null | undefined, client?: HeraldClient): {
  users: string[];
  notify: () => void;
  stop: () => void;
};
export declare function usePresence(client?: HeraldClient): PresenceUser[];
