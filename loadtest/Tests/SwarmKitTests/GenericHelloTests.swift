import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@testable import SwarmKit

/// The generic dialect against a Centrifuge-like server: the hello frame goes out first, the
/// connection counts as established at the server's answer, and pushes batched one per line in a
/// frame are each counted.
@Suite("Generic hello and batched frames")
struct GenericHelloTests {
    @Test("sends the hello, is established at the answer, counts every line of a batched frame")
    func helloThenBatch() throws {
        let tally = LoopTally(accounts: 1)
        var establishments = 0
        let handler = WebSocketClientHandler(
            slot: 0, tally: tally, waitsForWelcome: false, hello: #"{"id":1}"#, subscriptions: []
        ) { _, _, _ in establishments += 1 }
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(handler)

        // The frame carries its mask key; the encoder applies it, so `data` is still the text.
        let hello = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(hello.opcode == .text && String(buffer: hello.data) == #"{"id":1}"#)
        #expect(establishments == 0)

        try channel.writeInbound(Self.text(#"{"id":1,"result":{"client":"c1","subs":{"acct0":{}}}}"# + "\n"))
        #expect(establishments == 1)

        let pushes = (1...3 as ClosedRange<UInt64>).map { sequence in
            let event = EventStamp(sequence: sequence, sentAtNanoseconds: 1).eventJSON(eventBytes: 80)
            return #"{"result":{"channel":"acct0","data":{"data":"# + event + "}}}\n"
        }
        try channel.writeInbound(Self.text(pushes.joined()))
        #expect(tally.delivered == 3)
        #expect(tally.otherFrames == 1)
        #expect(establishments == 1)
        _ = try channel.finish()
    }

    /// An unmasked server text frame.
    private static func text(_ string: String) -> WebSocketFrame {
        WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: string))
    }
}
