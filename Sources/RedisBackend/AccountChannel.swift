import HeraldBroker
import HeraldProtocol
import PubSubBridge
/// The Redis pub/sub channel of an account, `herald:{A}`: the hash tag keeps every key of the
/// account on one Redis Cluster slot, and every other key of the account derives from it.
public enum AccountChannel {
    /// The channel of `account`.
    public static func name(for account: String) -> String { "herald:{\(account)}" }

    /// The account of `channel`; nil for channels outside the schema.
    public static func account(in channel: String) -> String? {
        guard channel.hasPrefix("herald:{"), channel.hasSuffix("}") else { return nil }
        return String(channel.dropFirst("herald:{".count).dropLast())
    }
}
