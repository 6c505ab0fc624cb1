/// Why a client message did not reach the backend, in terms the client can act on.
public struct UpstreamError: Error, Sendable, Equatable, CustomStringConvertible {
    private enum Code: Sendable, Equatable {
        case unavailable(String)
        case failed(String)
    }
    private let code: Code

    /// The stream cannot be written now (Redis down or too slow): nothing was stored; retry later.
    public static func unavailable(_ reason: String) -> Self { Self(code: .unavailable(reason)) }
    /// The HTTP endpoint did not accept the message (no 2xx in time, or an answer that is not
    /// JSON): the backend may or may not have acted on it.
    public static func failed(_ reason: String) -> Self { Self(code: .failed(reason)) }

    /// True when nothing was stored and a retry is safe (the client's `unavailable`); false for
    /// the HTTP endpoint's failures (the client's `upstream_failed`).
    public var isUnavailable: Bool {
        if case .unavailable = code { return true }
        return false
    }

    public var description: String {
        switch code {
        case .unavailable(let reason): return "the upstream stream is unavailable: \(reason)"
        case .failed(let reason): return "the upstream endpoint failed: \(reason)"
        }
    }
}
