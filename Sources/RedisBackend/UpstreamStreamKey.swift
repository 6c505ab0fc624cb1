/// The Redis stream an account's upstream messages go to: one stream (`herald:upstream`), or N
/// streams `herald:upstream:{0}` … `{N-1}` chosen by a hash of the account, so each stream has its
/// own hash tag (its own Redis Cluster slot) and an account's messages stay in one stream, in order.
public struct UpstreamStreamKey: Sendable, Equatable {
    /// The stream's name, or the prefix of the split streams.
    public var base: String
    /// How many streams; 1 means `base` itself.
    public var shards: Int

    public init(base: String = "herald:upstream", shards: Int = 1) {
        self.base = base
        self.shards = max(1, shards)
    }

    /// Every stream a worker must read.
    public var all: [String] {
        shards == 1 ? [base] : (0..<shards).map { "\(base):{\($0)}" }
    }

    /// The stream of `account`: FNV-1a (32-bit) of the account's UTF-8 bytes, modulo `shards`.
    public func key(for account: String) -> String {
        guard shards > 1 else { return base }
        var hash: UInt32 = 2_166_136_261
        for byte in account.utf8 {
            hash ^= UInt32(byte)
            hash = hash &* 16_777_619
        }
        return "\(base):{\(hash % UInt32(shards))}"
    }
}
