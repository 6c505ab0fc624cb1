/// How a refused WebSocket upgrade is answered (`HERALD_UPGRADE_REFUSALS`).
///
/// Browsers never show a page the HTTP status of a failed upgrade: the `WebSocket` only reports
/// close 1006, so an app cannot tell "fetch a new token" from "network down". Accepting the
/// upgrade and closing at once with a 44xx code and a reason makes the refusal readable.
public enum UpgradeRefusalMode: String, Sendable, CaseIterable {
    /// A close frame for requests that carry an `Origin` header (browsers), an HTTP error for
    /// the rest (servers, CLIs). The default.
    case browser
    /// Always a close frame.
    case close
    /// Always an HTTP error status with a JSON body (the behaviour before close codes existed).
    case http

    /// Whether a refused request with these headers gets a close frame rather than an HTTP error.
    func closes(hasOrigin: Bool) -> Bool {
        switch self {
        case .browser: return hasOrigin
        case .close: return true
        case .http: return false
        }
    }
}
