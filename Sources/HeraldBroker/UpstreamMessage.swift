import HeraldProtocol

/// One client message on its way to the backend: who sent it, from which connection on which
/// node, and what it said. The same fields go into a Redis stream entry and an HTTP body.
public struct UpstreamMessage: Sendable, Equatable {
    /// The sender's account (the token's account claim).
    public var account: String
    /// The sender's user id (the token's `sub`).
    public var user: String
    /// The connection it came from: publish a reply with `"connection": <this>` to reach it alone.
    public var connection: String
    /// The node holding that connection.
    public var node: String
    /// The client's `id`, to be echoed back as `ref`; nil when it sent none.
    public var id: MessageReference?
    /// The message's `type`.
    public var type: String
    /// The JSON text of the message's `data` exactly as the client sent it; `null` when it sent none.
    public var data: [UInt8]
    /// When the node received it, in Unix milliseconds.
    public var receivedAt: UInt64

    public init(
        account: String, user: String, connection: String, node: String, id: MessageReference?, type: String, data: [UInt8],
        receivedAt: UInt64
    ) {
        self.account = account
        self.user = user
        self.connection = connection
        self.node = node
        self.id = id
        self.type = type
        self.data = data
        self.receivedAt = receivedAt
    }

    /// The message as one JSON object (the HTTP upstream's body):
    /// `{"account","user","connection","node","id"?,"type","data","received_at"}`, `data` spliced in unchanged.
    public func json() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(data.count + account.utf8.count + user.utf8.count + connection.utf8.count + 160)
        func member(_ name: String, _ value: String) {
            bytes.append(contentsOf: #""\#(name)":"#.utf8)
            JSONText.append(value, to: &bytes)
            bytes.append(UInt8(ascii: ","))
        }
        bytes.append(UInt8(ascii: "{"))
        member("account", account)
        member("user", user)
        member("connection", connection)
        member("node", node)
        if let id { bytes.append(contentsOf: #""id":\#(id.jsonText),"#.utf8) }
        member("type", type)
        bytes.append(contentsOf: #""data":"#.utf8)
        bytes.append(contentsOf: data)
        bytes.append(contentsOf: #","received_at":\#(receivedAt)}"#.utf8)
        return bytes
    }
}
