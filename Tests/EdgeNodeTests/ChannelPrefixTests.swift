import Foundation
import HeraldTestSupport
import Testing

/// `"channels": ["kpi:*"]` grants every sub-channel that starts with `kpi:`, at connect and by `subscribe`.
@Suite("Channel prefix grants", .serialized)
struct ChannelPrefixTests {
    @Test func prefixGrants() async throws {
        let node = try await RunningNode.start()
        let token = try await Fixture.token(channels: ["kpi:*"])
        let client = try await node.connect(token: token, path: "/ws?token=\(token)&channels=kpi:calls")
        try await client.sendText(#"{"type":"subscribe","channel":"kpi:sales","id":1}"#)
        #expect(try await client.next()["type"] as? String == "ack")
        try await client.sendText(#"{"type":"subscribe","channel":"kpis","id":2}"#)
        let refused = try await client.next()
        #expect(refused["code"] as? String == "channel_forbidden")
        _ = try await node.publish(#"{"account":"42","type":"kpi.update","channel":"kpi:sales"}"#)
        _ = try await node.publish(#"{"account":"42","type":"kpi.update","channel":"kpi:calls"}"#)
        _ = try await node.publish(#"{"account":"42","type":"kpi.update","channel":"kpis"}"#)
        #expect(await client.drainJSON().map { $0["channel"] as? String } == ["kpi:sales", "kpi:calls"])
        await client.close()
        await node.stop()
    }
}
