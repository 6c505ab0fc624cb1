/// Why a broker operation failed, in terms a caller can act on: retry later, or fix the event.
public struct BrokerError: Error, Sendable, Equatable, CustomStringConvertible {
    private enum Code: Sendable, Equatable {
        case unavailable(String)
        case refused(String)
    }
    private let code: Code

    /// The broker cannot be reached or did not answer in time: retry later (a publish may or may
    /// not have happened).
    public static func unavailable(_ reason: String) -> Self { Self(code: .unavailable(reason)) }
    /// The broker refused the event itself (e.g. not a JSON object): retrying will not help.
    public static func refused(_ reason: String) -> Self { Self(code: .refused(reason)) }

    /// True for a refusal of the event, false for an outage.
    public var isRefusal: Bool {
        if case .refused = code { return true }
        return false
    }

    public var description: String {
        switch code {
        case .unavailable(let reason): return "the broker is unavailable: \(reason)"
        case .refused(let reason): return "the broker refused the event: \(reason)"
        }
    }
}
