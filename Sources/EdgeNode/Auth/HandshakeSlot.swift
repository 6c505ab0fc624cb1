/// What the WebSocket upgrader decided for one connection, handed to the HTTP handler when the
/// upgrade is refused so the refusal is answered without verifying the token twice.
/// Created per connection and touched only on that connection's event loop.
final class HandshakeSlot {
    /// A refusal for the HTTP handler to answer with its status.
    var refusal: HTTPRefusal?
    /// A refusal answered by accepting the upgrade and closing at once with a 44xx code.
    var closingRefusal: HTTPRefusal?
    var acceptance: HandshakeAuthenticator.Acceptance?
}
