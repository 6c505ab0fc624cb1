import Foundation

/// One published event as a client received it (or as it sits in the account's history stream).
///
/// Every event the cluster tests publish is `{"type":"cluster.event","data":{"phase":p,"seq":n,"attempt":a}}`;
/// events stored in history carry the `offset` Herald stamps on them.
struct ReceivedEvent: Equatable, Sendable, CustomStringConvertible {
    /// 1: before any node goes away; 2: while nodes are stopped and killed.
    var phase: Int
    /// Per-account sequence number within the phase.
    var seq: Int
    /// Which try of the publisher this is (a retried HTTP publish may have been stored twice).
    var attempt: Int
    /// The history offset, nil for live-only events.
    var offset: String?

    /// The event type every cluster test event has.
    static let type = "cluster.event"

    /// Parses a JSON object received from a node or read from the stream; nil for anything that is not a test event.
    init?(json: [String: Any]) {
        guard json["type"] as? String == Self.type, let data = json["data"] as? [String: Any],
            let phase = data["phase"] as? Int, let seq = data["seq"] as? Int
        else { return nil }
        self.init(phase: phase, seq: seq, attempt: data["attempt"] as? Int ?? 0, offset: json["offset"] as? String)
    }

    init(phase: Int, seq: Int, attempt: Int, offset: String?) {
        self.phase = phase
        self.seq = seq
        self.attempt = attempt
        self.offset = offset
    }

    /// The event's JSON as published (without an offset; Herald adds it).
    static func json(phase: Int, seq: Int, attempt: Int = 0) -> String {
        #"{"type":"\#(type)","data":{"phase":\#(phase),"seq":\#(seq),"attempt":\#(attempt)}}"#
    }

    var description: String { "p\(phase)#\(seq).\(attempt)@\(offset ?? "live")" }
}
