import Foundation
import HeraldTestSupport
import Testing

/// The route table decides on the head alone: a wrong key, a wrong method or an announced body
/// over the limit is answered at once, without waiting for (or reading) the body.
@Suite("HTTP admission on the head")
struct HTTPAdmissionTests {
    @Test("a wrong key announcing a 1 MiB body gets 401 at once; an oversized body 413; a wrong method 405")
    func refusedBeforeTheBody() async throws {
        let node = try await RunningNode.start { $0.maxRequestBodyBytes = 64 * 1024 }
        let cases: [(String, [(String, String)], Int)] = [
            ("/api/v1/publish", [("authorization", "Bearer wrong"), ("content-length", "1048576")], 401),
            ("/api/v1/publish/batch", [("content-length", "1048576")], 401),
            ("/api/v1/publish", [("authorization", "Bearer \(Fixture.apiKey)"), ("content-length", "1048576")], 413),
        ]
        for (path, headers, status) in cases {
            let started = ContinuousClock.now
            let response = try await TestHTTPClient.request(.POST, port: node.port, path: path, headers: headers, bodyBytes: nil, headOnly: true, timeout: .seconds(5))
            #expect(response.status == status, "\(path) \(headers)")
            #expect(ContinuousClock.now - started < .seconds(1), "\(path): answered only after \(ContinuousClock.now - started)")
            #expect(response.json?["error"] != nil)
        }
        let wrongMethod = try await TestHTTPClient.request(.DELETE, port: node.port, path: "/api/v1/publish")
        #expect(wrongMethod.status == 405)
        let unknown = try await TestHTTPClient.request(.GET, port: node.port, path: "/api/v2/nothing")
        #expect(unknown.status == 404)
        let presence = try await TestHTTPClient.request(.GET, port: node.port, path: "/api/v1/accounts/bad%7Bid/presence", headers: [("authorization", "Bearer \(Fixture.apiKey)")])
        #expect(presence.status == 400)
        await node.stop()
    }
}
