import NIOCore
import NIOHTTP1

/// One endpoint of the node's HTTP side. The router picks it by method and path; the request
/// handler asks it to admit the request as soon as the head arrives (so a wrong key or a body
/// that is too large is refused before a byte of body is read), then for its answer.
protocol HTTPEndpoint: Sendable {
    /// The largest body the endpoint reads; a longer one is refused with 413.
    var maxBodyBytes: Int { get }
    /// A refusal decided by the head alone (credentials, path parameters), or nil to go on.
    func admit(_ head: HTTPRequestHead, parameters: [String]) -> HTTPRefusal?
    /// The answer to a complete, admitted request.
    func respond(to request: HTTPRequest, on eventLoop: EventLoop) -> EventLoopFuture<HTTPResponse>
    /// How long the answer may take once the request is complete (a long poll); nil: the
    /// node's request timeout from the head on.
    var responseTimeout: TimeAmount? { get }
}

extension HTTPEndpoint {
    var maxBodyBytes: Int { 0 }
    var responseTimeout: TimeAmount? { nil }
    func admit(_ head: HTTPRequestHead, parameters: [String]) -> HTTPRefusal? { nil }
}

/// A complete request as an endpoint sees it.
struct HTTPRequest: Sendable {
    var head: HTTPRequestHead
    var body: [UInt8]
    /// The values of the route's `{parameter}` segments, in order.
    var parameters: [String]
}
