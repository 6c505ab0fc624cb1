import Foundation
import HeraldTestSupport
import Testing

/// API keys scoped to accounts (`key{acme}{org:*}`) publish to and read the presence of those
/// accounts only; unscoped keys keep reaching every account.
@Suite("Scoped API keys", .serialized)
struct ScopedAPIKeyTests {
    private let scoped = "scoped-key-0123456789"
    private let unscoped = "full-key-0123456789"

    private func node() async throws -> RunningNode {
        try await RunningNode.start { $0.apiKeys = [unscoped, "\(scoped){acme}{org:*}"] }
    }

    private func post(_ node: RunningNode, _ path: String, key: String, _ body: String) async throws -> TestHTTPClient.Response {
        try await TestHTTPClient.request(
            .POST, port: node.port, path: path, headers: [("authorization", "Bearer \(key)"), ("content-type", "application/json")], body: body)
    }

    @Test("publish: in scope 200, out of scope 403 account_forbidden; an unscoped key reaches any account")
    func publish() async throws {
        let node = try await node()
        let other = try await node.connect(token: try await Fixture.token(account: "other"))
        for account in ["acme", "org:42", "org:"] {
            let response = try await post(node, "/api/v1/publish", key: scoped, #"{"account":"\#(account)","type":"x"}"#)
            #expect(response.status == 200, "\(account): \(response.body)")
        }
        for account in ["other", "acme2", "or", "org"] {
            let response = try await post(node, "/api/v1/publish", key: scoped, #"{"account":"\#(account)","type":"x"}"#)
            #expect(response.status == 403, "\(account)")
            #expect(response.json?["error"] as? String == "account_forbidden")
        }
        #expect(try await post(node, "/api/v1/publish", key: unscoped, #"{"account":"other","type":"allowed"}"#).status == 200)
        #expect(try await post(node, "/api/v1/publish", key: "wrong", #"{"account":"acme","type":"x"}"#).status == 401)
        #expect(await other.drainJSON().map { $0["type"] as? String } == ["allowed"])
        await other.close()
        await node.stop()
    }

    @Test("batch: one event out of scope refuses the whole batch before anything is published")
    func batch() async throws {
        let node = try await node()
        let acme = try await node.connect(token: try await Fixture.token(account: "acme"))
        let refused = try await post(node, "/api/v1/publish/batch", key: scoped, #"""
            {"events":[{"account":"acme","type":"first"},{"account":"org:7","type":"second"},{"account":"other","type":"third"}]}
            """#)
        #expect(refused.status == 403)
        #expect(refused.json?["error"] as? String == "account_forbidden")
        #expect((refused.json?["message"] as? String)?.hasPrefix("events[2]:") == true)
        #expect(await acme.drainJSON().isEmpty)

        let accepted = try await post(node, "/api/v1/publish/batch", key: scoped, #"""
            {"events":[{"account":"acme","type":"first"},{"account":"org:7","type":"second"}]}
            """#)
        #expect(accepted.status == 200)
        #expect(await acme.drainJSON().map { $0["type"] as? String } == ["first"])
        await acme.close()
        await node.stop()
    }

    @Test("presence: readable in scope, 403 outside it")
    func presence() async throws {
        let node = try await node()
        func presence(_ account: String, key: String) async throws -> TestHTTPClient.Response {
            let encoded = account.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            return try await TestHTTPClient.request(
                .GET, port: node.port, path: "/api/v1/accounts/\(encoded)/presence", headers: [("authorization", "Bearer \(key)")])
        }
        #expect(try await presence("acme", key: scoped).status == 200)
        #expect(try await presence("org:9", key: scoped).status == 200)
        let refused = try await presence("other", key: scoped)
        #expect(refused.status == 403)
        #expect(refused.json?["error"] as? String == "account_forbidden")
        #expect(try await presence("other", key: unscoped).status == 200)
        #expect(try await presence("other", key: "wrong").status == 401)
        await node.stop()
    }
}
