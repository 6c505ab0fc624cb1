import Foundation
import HeraldTestSupport
import Testing

/// Slow and idle HTTP connections: a request that never completes is answered 408 (or cut), an
/// idle keep-alive connection is closed, and a busy one is not, however many timeouts it outlives.
@Suite("Request timeouts on HTTP connections", .timeLimit(.minutes(1)))
struct RequestTimeoutTests {
    private static func closed(_ connection: TestRawConnection, within timeout: Duration) async throws -> Duration? {
        let started = ContinuousClock.now
        while ContinuousClock.now - started < timeout {
            if connection.isClosed { return ContinuousClock.now - started }
            try await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    @Test("a head that never ends is cut at the request timeout")
    func unfinishedHead() async throws {
        let node = try await RunningNode.start { $0.handshakeTimeout = .milliseconds(400) }
        let connection = try await TestRawConnection.connect(port: node.port)
        try await connection.send("GET /healthz HTTP/1.1\r\nHost: x\r\n")
        let after = try await Self.closed(connection, within: .seconds(5))
        #expect(after != nil, "the connection stayed open")
        if let after { #expect(after >= .milliseconds(300) && after < .seconds(2), "closed after \(after)") }
        await connection.close()
        await node.stop()
    }

    @Test("a body that stops arriving is answered 408 and the connection closed")
    func unfinishedBody() async throws {
        let node = try await RunningNode.start { $0.handshakeTimeout = .milliseconds(400) }
        let connection = try await TestRawConnection.connect(port: node.port)
        try await connection.send(
            "POST /api/v1/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Fixture.apiKey)\r\n"
                + "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"account\":")
        let answer = try await connection.receive(until: { $0.contains("request_timeout") }, timeout: .seconds(5))
        #expect(answer.hasPrefix("HTTP/1.1 408"), "\(answer)")
        #expect(answer.contains(#""error":"request_timeout""#), "\(answer)")
        #expect(try await Self.closed(connection, within: .seconds(2)) != nil)
        await connection.close()
        await node.stop()
    }

    @Test("a keep-alive connection busy for many timeouts stays open; idle, it is closed one timeout later")
    func busyThenIdle() async throws {
        let node = try await RunningNode.start { $0.handshakeTimeout = .milliseconds(400) }
        let connection = try await TestRawConnection.connect(port: node.port)
        // 12 requests 150 ms apart: 1.8 s, four and a half timeouts, each well inside one.
        for index in 1...12 {
            try await connection.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            let answers = try await connection.receive(until: { $0.components(separatedBy: "HTTP/1.1 200").count == index + 1 })
            #expect(answers.components(separatedBy: "HTTP/1.1 200").count == index + 1, "request \(index) unanswered")
            #expect(!connection.isClosed, "closed while busy, after request \(index)")
            try await Task.sleep(for: .milliseconds(150))
        }
        let idleFor = try await Self.closed(connection, within: .seconds(5))
        #expect(idleFor != nil, "the idle connection stayed open")
        if let idleFor { #expect(idleFor < .seconds(2), "idle connection closed only after \(idleFor)") }
        await connection.close()
        await node.stop()
    }
}
