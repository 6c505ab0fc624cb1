import Foundation
import HeraldProtocol

/// A validated `POST /api/v1/publish` body, and the event it becomes.
struct PublishRequest: Sendable {
    var account: String
    /// Whether the event goes into the account's history (recoverable); `"history": false` publishes live only.
    var history: Bool
    /// The event exactly as clients will receive it: `{"type", "data", "user"?, "channel"?}`.
    var event: [UInt8]

    /// The longest `type` accepted.
    static let maximumTypeLength = 64

    /// Parses one publish object; throws an `HTTPRefusal` (400) naming the bad field.
    init(json object: Any) throws(HTTPRefusal) {
        guard let fields = object as? [String: Any] else { throw Self.bad("the body must be a JSON object") }
        guard let account = Self.identifier(fields["account"]), AccountName.isValid(account) else {
            throw Self.bad("'account' must be a string of 1-\(AccountName.maximumLength) characters of A-Z a-z 0-9 _ - .")
        }
        guard let type = fields["type"] as? String, !type.isEmpty, type.utf8.count <= Self.maximumTypeLength else {
            throw Self.bad("'type' must be a non-empty string of at most \(Self.maximumTypeLength) bytes")
        }
        var history = true
        if let value = fields["history"] {
            guard let flag = value as? Bool else { throw Self.bad("'history' must be true or false") }
            history = flag
        }
        var event: [String: Any] = ["type": type, "data": fields["data"] ?? NSNull()]
        if let user = fields["user"] {
            guard let user = Self.identifier(user), !user.isEmpty, user.utf8.count <= 256 else {
                throw Self.bad("'user' must be a non-empty string of at most 256 bytes")
            }
            event["user"] = user
        }
        if let channel = fields["channel"] {
            guard let channel = channel as? String, ChannelName.isValid(channel) else {
                throw Self.bad("'channel' must be 1-\(ChannelName.maximumLength) printable characters")
            }
            event["channel"] = channel
        }
        guard let bytes = try? JSONSerialization.data(withJSONObject: event, options: [.withoutEscapingSlashes]) else {
            throw Self.bad("'data' is not encodable as JSON")
        }
        self.account = account
        self.history = history
        self.event = Array(bytes)
    }

    /// Parses a whole request body holding one publish object.
    static func parse(body: [UInt8]) throws(HTTPRefusal) -> PublishRequest {
        try PublishRequest(json: try parseJSON(body))
    }

    /// Parses `body` as JSON, refusing malformed input with 400.
    static func parseJSON(_ body: [UInt8]) throws(HTTPRefusal) -> Any {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]) else {
            throw bad("the body is not valid JSON")
        }
        return object
    }

    static func bad(_ message: String) -> HTTPRefusal {
        HTTPRefusal(status: .badRequest, code: .badRequest, message: message)
    }

    /// Ids are JSON strings; numbers are refused rather than guessed at (`1` vs `1.0` vs `true`).
    private static func identifier(_ value: Any?) -> String? {
        value as? String
    }
}
