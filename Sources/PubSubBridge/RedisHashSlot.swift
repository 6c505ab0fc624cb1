/// The Redis Cluster hash slot of a key: CRC16/XMODEM (polynomial 0x1021, initial value 0) of the
/// key's hash tag, modulo 16384.
///
/// The hash tag is what lies between the first `{` and the next `}` when that is not empty;
/// otherwise the whole key is hashed (`foo{}{bar}` hashes all of it, `foo{bar}{zap}` hashes `bar`).
/// Sharded pub/sub channels hash the same way, so `herald:{42}` and `herald:{42}:log` share a slot.
public enum RedisHashSlot {
    /// How many slots a cluster has.
    public static let count = 16_384

    /// The slot of `key`.
    public static func of(_ key: String) -> Int {
        var key = key
        return key.withUTF8 { Self.of(bytes: $0) }
    }

    /// The slot of a key given as bytes.
    public static func of(bytes key: some Collection<UInt8>) -> Int {
        let tag = Self.hashTag(of: Array(key))
        var crc: UInt16 = 0
        for byte in tag {
            crc = (crc << 8) ^ Self.table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
        }
        return Int(crc) & (Self.count - 1)
    }

    /// The bytes that are hashed: the first non-empty `{…}` section, else the whole key.
    private static func hashTag(of key: [UInt8]) -> ArraySlice<UInt8> {
        guard let open = key.firstIndex(of: UInt8(ascii: "{")),
            let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")),
            close > open + 1
        else { return key[...] }
        return key[(open + 1)..<close]
    }

    /// CRC16/XMODEM for every byte value, as Redis's `crc16.c` tabulates it.
    private static let table: [UInt16] = (0..<256).map { value in
        var crc = UInt16(value) << 8
        for _ in 0..<8 {
            crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
        }
        return crc
    }
}
