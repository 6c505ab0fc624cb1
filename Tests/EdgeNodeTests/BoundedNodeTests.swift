import Foundation
import HeraldProtocol
import HeraldTestSupport
import NIOWebSocket
import Testing

/// Everything a client can cause is bounded and charged to that client, and a node keeps
/// answering its health checks whatever clients do.
@Suite("A node no client can take down", .serialized)
struct BoundedNodeTests {
    private static let upgradeHeaders = [
        ("upgrade", "websocket"), ("connection", "Upgrade"), ("sec-websocket-version", "13"), ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ]

    private func metric(_ name: String, port: Int) async throws -> Double {
        let text = try await TestHTTPClient.request(.GET, port: port, path: "/metrics").body
        let line = text.split(separator: "\n").first { $0.hasPrefix(name + " ") } ?? ""
        return Double(line.split(separator: " ").last ?? "") ?? 0
    }

    @Test("limit + 1 connections: the last gets 503 with Retry-After while /healthz answers; per-user limit 429")
    func admission() async throws {
        let node = try await RunningNode.start {
            $0.maxConnections = 4
            $0.maxConnectionsPerUser = 2
        }
        var clients: [TestWebSocketClient] = []
        for user in ["a", "a", "b", "c"] { clients.append(try await node.connect(token: try await Fixture.token(user: user))) }

        let sameUser = try await TestHTTPClient.request(.GET, port: node.port, path: "/ws?token=\(try await Fixture.token(user: "a"))", headers: Self.upgradeHeaders)
        #expect(sameUser.status == 503)  // the node is full first
        let over = try await TestHTTPClient.request(.GET, port: node.port, path: "/ws?token=\(try await Fixture.token(user: "d"))", headers: Self.upgradeHeaders)
        #expect(over.status == 503)
        #expect(over.json?["error"] as? String == "node_full")
        #expect(over.headers.contains { $0.0.lowercased() == "retry-after" })
        #expect(try await TestHTTPClient.request(.GET, port: node.port, path: "/healthz").status == 200)
        let ready = try await TestHTTPClient.request(.GET, port: node.port, path: "/readyz")
        #expect(ready.status == 503 && ready.json?["reason"] as? String == "full")
        #expect(try await TestHTTPClient.request(.GET, port: node.port, path: "/metrics").status == 200)

        await clients.removeLast().close()
        try await Task.sleep(for: .milliseconds(200))
        #expect(try await TestHTTPClient.request(.GET, port: node.port, path: "/readyz").status == 200)
        let thirdTab = try await TestHTTPClient.request(.GET, port: node.port, path: "/ws?token=\(try await Fixture.token(user: "a"))", headers: Self.upgradeHeaders)
        #expect(thirdTab.status == 429)
        #expect(thirdTab.json?["error"] as? String == "too_many_connections")
        for client in clients { await client.close() }
        await node.stop()
    }

    @Test("a ping flood without reading ends in a close, with RSS growth under twice the outbound limit")
    func pingFlood() async throws {
        let limit = 1 << 20
        let node = try await EdgeNodeProcess.start(environment: [
            "HERALD_JWT_SECRET": Fixture.secret, "HERALD_API_KEYS": Fixture.apiKey, "HERALD_OUTBOUND_BUFFER_BYTES": String(limit),
        ])
        defer { node.kill() }
        let token = try await Fixture.token()
        let client = try await TestWebSocketClient.connect(port: node.port, path: "/ws?token=\(token)", receiveBufferSize: 4096)
        _ = try await client.receiveJSON()
        try await Task.sleep(for: .milliseconds(300))
        let before = node.residentBytes
        await client.stopReading()
        var sent = 0
        let payload = [UInt8](repeating: 0x70, count: 125)
        while sent < 500_000, !client.isClosed {
            guard (try? await client.sendFrame(opcode: .ping, data: payload)) != nil else { break }
            sent += 1
        }
        try await Task.sleep(for: .milliseconds(500))
        let growth = node.residentBytes - before
        #expect(client.isClosed || sent < 500_000, "the connection survived \(sent) pings")
        #expect(growth < 2 * limit, "RSS grew by \(growth) bytes after \(sent) pings")
        await client.close()
    }

    @Test("a client that asks for presence.state without reading is closed at the outbound limit")
    func presenceFloodNotReading() async throws {
        let node = try await RunningNode.start {
            $0.outboundBufferBytes = 16 * 1024
            $0.clientMessagesPerSecond = 100_000
            $0.clientMessageBurst = 100_000
        }
        var others: [TestWebSocketClient] = []
        for user in 0..<40 { others.append(try await node.connect(token: try await Fixture.token(user: "user-with-a-long-name-\(user)"))) }
        let client = try await TestWebSocketClient.connect(
            port: node.port, path: "/ws?token=\(try await Fixture.token(user: "reader"))", receiveBufferSize: 4096)
        _ = try await client.receiveJSON()
        await client.stopReading()
        for _ in 0..<3000 where !client.isClosed {
            try? await client.sendText(#"{"type":"presence.get"}"#)
        }
        var closes = 0.0
        for _ in 0..<50 where closes < 1 {
            closes = try await metric("herald_slow_consumer_closes_total", port: node.port)
            if closes < 1 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(closes >= 1)
        for other in others { await other.close() }
        await node.stop()
    }

    @Test("a replay to a client that does not read stops at the limit, and live events held meanwhile close it with 4001")
    func replayNotReading() async throws {
        let node = try await RunningNode.start { $0.outboundBufferBytes = 16 * 1024 }
        let token = try await Fixture.token()
        let first = try await node.connect(token: token)
        let base = try #require((try await node.publish(#"{"account":"42","type":"seq"}"#)).json?["offset"] as? String)
        await first.close()
        // Far more than loopback's socket buffers can hide: the node itself must stop and hold.
        let blob = String(repeating: "x", count: 32_000)
        for _ in 0..<300 { _ = try await node.publish(#"{"account":"42","type":"big","data":"\#(blob)"}"#) }
        let client = try await TestWebSocketClient.connect(
            port: node.port, path: "/ws?token=\(token)&since=\(base)", receiveBufferSize: 4096)
        await client.stopReading()
        try await Task.sleep(for: .milliseconds(300))
        for _ in 0..<100 { _ = try await node.publish(#"{"account":"42","type":"big","data":"\#(blob)"}"#) }
        var closes = 0.0
        for _ in 0..<50 where closes < 1 {
            closes = try await metric("herald_slow_consumer_closes_total", port: node.port)
            if closes < 1 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(closes >= 1)
        await client.close()
        await node.stop()
    }
}
