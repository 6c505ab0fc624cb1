// The inbox's account socket, on herald.js's React hooks: conversation and message events, typing
// in the open conversation, and sendMessage / markAsRead carried to the backend (upstream).
import { useCallback } from "react";
import { useHerald, useHeraldEvent, useHeraldStatus, useTyping } from "../../clients/js/react.js";

export function useAccountWebSocket({ conversationId, onConversation, onMessage, onRead, onResync }) {
  const herald = useHerald();
  const status = useHeraldStatus();
  useHeraldEvent("conversation.new", (event) => onConversation?.(event.data));
  useHeraldEvent("conversation.updated", (event) => onConversation?.(event.data));
  useHeraldEvent("message.new", (event) => onMessage?.(event.data));
  useHeraldEvent("message.read", (event) => onRead?.(event.data));
  useHeraldEvent("resync", (details) => onResync?.(details)); // missed events are gone: refetch
  const typing = useTyping(conversationId);

  const sendMessage = useCallback(
    (text) => {
      typing.stop();
      return herald.send("sendMessage", { conversation_id: conversationId, text });
    },
    [herald, conversationId, typing.stop],
  );
  const markAsRead = useCallback(
    (messageId) => herald.send("markAsRead", { conversation_id: conversationId, message_id: messageId }),
    [herald, conversationId],
  );
  return { status, typingUsers: typing.users, notifyTyping: typing.notify, sendMessage, markAsRead };
}
