// The dialer's hook, on herald.js's React hooks: live calls of this agent, the team's presence,
// KPI updates on a sub-channel, and dial / hang-up / status changes carried to the backend.
import { useCallback, useState } from "react";
import { useChannel, useHerald, useHeraldEvent, useHeraldStatus, usePresence } from "../../clients/js/react.js";

export function useDialer() {
  const herald = useHerald();
  const status = useHeraldStatus();
  const agents = usePresence();
  const [calls, setCalls] = useState({});
  const [kpi, setKpi] = useState(null);
  useChannel("kpi");
  const update = (event) => setCalls((all) => ({ ...all, [event.data.call_id]: { ...all[event.data.call_id], ...event.data } }));
  useHeraldEvent("call.incoming", update);
  useHeraldEvent("call.updated", update);
  useHeraldEvent("call.ended", (event) => setCalls(({ [event.data.call_id]: _, ...rest }) => rest));
  useHeraldEvent("kpi.updated", (event) => setKpi(event.data));

  // request(): resolves with the backend's reply ({type:"reply", ref, data}) to this connection.
  const dial = useCallback((number) => herald.request("dial", { number }, { timeout: 10000 }).then((reply) => reply.data), [herald]);
  const hangUp = useCallback((callId) => herald.send("hangup", { call_id: callId }), [herald]);
  const setAvailability = useCallback((availability) => herald.send("agent.status", { availability }), [herald]);
  return { status, agents, calls: Object.values(calls), kpi, dial, hangUp, setAvailability };
}
