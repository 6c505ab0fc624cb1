/// What the WebSocket upgrader decided for one connection, handed to the HTTP handler when the
/// upgrade is refused so the refusal is answered without verifying the token twice.
/// Created per connection and touched only on that connection's event loop.
final class HandshakeSlot {
    var refusal: HTTPRefusal?
    var acceptance: HandshakeAuthenticator.Acceptance?
}
