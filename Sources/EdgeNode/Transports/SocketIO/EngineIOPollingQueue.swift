import NIOCore

/// The packets waiting for a polling client's next `GET`, as a value: bounded in bytes (the
/// session's outbound limit: over it, the transport is not writable and the session closes the
/// client as slow), taken in batches a client can read — at most `maxPacketsPerPoll` packets
/// (python-engineio refuses a body of more than 16) and about `maxBatchBytes` bytes.
struct EngineIOPollingQueue {
    let maxPacketsPerPoll: Int
    let maxBatchBytes: Int
    private(set) var packets: [ByteBuffer] = []
    private var head = 0
    /// Bytes queued.
    private(set) var bytes = 0

    init(maxPacketsPerPoll: Int = 16, maxBatchBytes: Int) {
        self.maxPacketsPerPoll = maxPacketsPerPoll
        self.maxBatchBytes = maxBatchBytes
    }

    var isEmpty: Bool { head == packets.count }
    var count: Int { packets.count - head }

    mutating func append(_ packet: ByteBuffer) {
        packets.append(packet)
        bytes += packet.readableBytes
    }

    /// The next polling body: packets joined by the record separator (at least one packet,
    /// however large); empty when nothing waits.
    mutating func takeBatch() -> [UInt8] {
        var body: [UInt8] = []
        var taken = 0
        while head < packets.count, taken < maxPacketsPerPoll {
            let packet = packets[head]
            if taken > 0, body.count + 1 + packet.readableBytes > maxBatchBytes { break }
            if taken > 0 { body.append(EngineIOPacket.recordSeparator) }
            body.append(contentsOf: packet.readableBytesView)
            bytes -= packet.readableBytes
            head += 1
            taken += 1
        }
        if head == packets.count {
            packets.removeAll(keepingCapacity: packets.count <= 64)
            head = 0
        } else if head > 64 {
            packets.removeFirst(head)
            head = 0
        }
        return body
    }

    /// Every queued packet, in order (the upgrade moves them onto the WebSocket).
    mutating func takeAll() -> [ByteBuffer] {
        let all = Array(packets[head...])
        packets.removeAll()
        head = 0
        bytes = 0
        return all
    }
}
