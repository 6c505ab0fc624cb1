import Foundation
import NIOHTTP1

/// What Herald reads from a request to `/socket.io/`: the Engine.IO query (`EIO`, `transport`,
/// `sid`) and, for a `CONNECT` without `auth.token`, a token in `?token=` or `Authorization`.
struct SocketIORequest: Sendable, Equatable {
    var protocolVersion: String?
    var transport: String?
    var sid: String?
    var token: String?
    var origin: String?

    /// The only Engine.IO protocol served.
    static let supportedVersion = "4"

    init?(_ head: HTTPRequestHead) {
        guard let components = URLComponents(string: head.uri), ["/socket.io/", "/socket.io"].contains(components.path) else { return nil }
        let items = components.queryItems ?? []
        func query(_ name: String) -> String? { items.first { $0.name == name }?.value }
        protocolVersion = query("EIO")
        transport = query("transport")
        sid = query("sid")
        token = query("token") ?? HandshakeAuthenticator.bearerToken(in: head.headers)
        origin = head.headers.first(name: "origin")
    }

    /// Engine.IO's error body for a request it refuses: `{"code":n,"message":…}`.
    static func refusal(code: Int, message: String) -> HTTPResponse {
        .json(.badRequest, ["code": code, "message": message])
    }

    /// Engine.IO's refusal of this request's query, or nil when it may go on.
    func queryRefusal(expecting transport: String) -> HTTPResponse? {
        guard protocolVersion == Self.supportedVersion else {
            return Self.refusal(code: 5, message: "Unsupported protocol version: Herald speaks Engine.IO 4 (Socket.IO v3/v4 clients)")
        }
        guard self.transport == transport else { return Self.refusal(code: 0, message: "Transport unknown") }
        return nil
    }
}
