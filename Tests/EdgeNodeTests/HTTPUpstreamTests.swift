import Foundation
import HTTPUpstream
import HeraldTestSupport
import NIOCore
import NIOHTTP1
import Testing

/// The HTTP upstream against a small loopback backend: every request signed, a 2xx body
/// delivered to the asking connection as `reply`, a bodiless 2xx acked, a 500, a timeout and a
/// non-JSON body mapped to `upstream_failed` with `ref`.
@Suite("Upstream by HTTP", .serialized)
struct HTTPUpstreamTests {
    static let secret = "upstream-secret-0123456789"

    static func node(backend: LoopbackHTTPBackend, secret: String = secret, timeout: TimeAmount = .milliseconds(500)) async throws -> RunningNode {
        try await RunningNode.start(upstream: .http(HTTPUpstreamSink.Configuration(
            url: "http://127.0.0.1:\(backend.port)/herald/upstream", secret: secret, timeout: timeout, maxConcurrentRequests: 4)))
    }

    @Test("a signed POST per message; the 2xx body comes back as reply to that connection only")
    func replyDelivered() async throws {
        let backend = try await LoopbackHTTPBackend.start(secret: Self.secret) { request in
            let json = request.json ?? [:]
            switch json["type"] as? String {
            case "dashboard.query": return .init(body: #"{"kpi":42,"q":\#(((json["data"] as? [String: Any])?["q"] as? Int) ?? -1)}"#)
            case "boom": return .init(status: .internalServerError, body: #"{"error":"boom"}"#)
            case "slow": return .init(body: "{}", delay: .seconds(2))
            case "garbage": return .init(body: "not json")
            default: return .init(status: .noContent)
            }
        }
        let node = try await Self.node(backend: backend)
        let asker = try await node.connect(token: try await Fixture.token(user: "alice"))
        let bystander = try await node.connect(token: try await Fixture.token(user: "alice"))

        try await asker.sendText(#"{"type":"dashboard.query","id":"q1","data":{"q":3}}"#)
        let reply = try await asker.next()
        #expect(reply["type"] as? String == "reply" && reply["ref"] as? String == "q1", "\(reply)")
        #expect((reply["data"] as? [String: Any])?["kpi"] as? Int == 42 && (reply["data"] as? [String: Any])?["q"] as? Int == 3)

        try await asker.sendText(#"{"type":"notification:mark-read","id":2,"data":{"id":"n1"}}"#)
        let ack = try await asker.next()
        #expect(ack["type"] as? String == "ack" && ack["ref"] as? Int == 2, "\(ack)")

        let requests = backend.requests
        #expect(requests.count == 2 && requests.allSatisfy(\.signatureValid))
        let body = requests.first?.json ?? [:]
        #expect(body["account"] as? String == "42" && body["user"] as? String == "alice" && body["type"] as? String == "dashboard.query")
        #expect(body["id"] as? String == "q1" && (body["connection"] as? String)?.isEmpty == false && body["received_at"] is Int)
        let rawBody = String(decoding: requests.first?.body ?? [], as: UTF8.self)
        #expect(rawBody.contains(#""data":{"q":3}"#))
        #expect(await bystander.drainJSON().isEmpty)

        for (type, ref) in [("boom", "b1"), ("slow", "s1"), ("garbage", "g1")] {
            try await asker.sendText(#"{"type":"\#(type)","id":"\#(ref)"}"#)
            let error = try await asker.next(timeout: .seconds(5))
            #expect(error["type"] as? String == "error" && error["code"] as? String == "upstream_failed" && error["ref"] as? String == ref, "\(type): \(error)")
        }
        #expect(await asker.drainJSON().isEmpty)
        await asker.close()
        await bystander.close()
        await node.stop()
        await backend.stop()
    }

    @Test("a request signed with another secret is refused by the backend and reported as upstream_failed")
    func wrongSecret() async throws {
        let backend = try await LoopbackHTTPBackend.start(secret: Self.secret) { _ in .init(body: #"{"ok":true}"#) }
        let node = try await Self.node(backend: backend, secret: "another-secret-0123456789")
        let client = try await node.connect(token: try await Fixture.token())
        try await client.sendText(#"{"type":"x","id":"w1"}"#)
        let error = try await client.next()
        #expect(error["code"] as? String == "upstream_failed" && error["ref"] as? String == "w1", "\(error)")
        #expect(backend.requests.count == 1 && backend.requests.allSatisfy { !$0.signatureValid })
        await client.close()
        await node.stop()
        await backend.stop()
    }

    @Test("concurrency is bounded per node; every queued request still gets its answer")
    func boundedConcurrency() async throws {
        let backend = try await LoopbackHTTPBackend.start(secret: Self.secret) { _ in .init(body: #"{"ok":true}"#, delay: .milliseconds(50)) }
        let node = try await Self.node(backend: backend, timeout: .seconds(5))
        let client = try await node.connect(token: try await Fixture.token())
        for index in 0..<20 { try await client.sendText(#"{"type":"x","id":\#(index)}"#) }
        var refs: Set<Int> = []
        for _ in 0..<20 {
            let reply = try await client.next(timeout: .seconds(10))
            if reply["type"] as? String == "reply", let ref = reply["ref"] as? Int { refs.insert(ref) }
        }
        #expect(refs == Set(0..<20))
        #expect(backend.requests.count == 20)
        // The node was configured with at most 4 requests in flight.
        #expect(backend.peakOutstanding <= 4 && backend.peakOutstanding >= 2, "peak \(backend.peakOutstanding)")
        await client.close()
        await node.stop()
        await backend.stop()
    }
}
