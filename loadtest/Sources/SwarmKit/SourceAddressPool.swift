import NIOCore

/// Local addresses to bind client sockets to before connecting, taken in turn, so one process
/// gets past the ephemeral ports of a single source address (about 28,000 per address).
///
/// Parsed from `127.0.0.2-127.0.0.20` (an IPv4 range) and/or comma-separated addresses.
public struct SourceAddressPool: Sendable {
    /// The addresses, in the order they are handed out.
    public let addresses: [String]

    public init(addresses: [String]) {
        self.addresses = addresses
    }

    /// Parses `a.b.c.d-a.b.c.e,f.g.h.i`; the range is inclusive and may span at most 65,536 addresses.
    public init(parsing text: String) throws {
        var result: [String] = []
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
            let ends = part.split(separator: "-").map(String.init)
            if ends.count == 2 {
                guard let low = Self.ipv4(ends[0]), let high = Self.ipv4(ends[1]), low <= high, high - low < 65536 else {
                    throw Endpoint.ParseError(description: "\(part): expected an IPv4 range like 127.0.0.2-127.0.0.20")
                }
                result += (low...high).map(Self.dotted)
            } else {
                guard Self.ipv4(part) != nil || part.contains(":") else {
                    throw Endpoint.ParseError(description: "\(part): not an address")
                }
                result.append(part)
            }
        }
        self.addresses = result
    }

    /// The address for the `index`-th connection, or nil when the pool is empty (let the kernel pick).
    public func address(for index: Int) -> String? {
        addresses.isEmpty ? nil : addresses[index % addresses.count]
    }

    static func ipv4(_ text: String) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).compactMap { UInt32($0) }
        guard parts.count == 4, parts.allSatisfy({ $0 < 256 }) else { return nil }
        return parts.reduce(0) { $0 << 8 | $1 }
    }

    static func dotted(_ value: UInt32) -> String {
        "\(value >> 24).\(value >> 16 & 255).\(value >> 8 & 255).\(value & 255)"
    }
}
