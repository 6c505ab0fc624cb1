@testable import EdgeNode
import HeraldProtocol
import HeraldTestSupport
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

/// RFC 6455 as clients meet it: one case of each class the Autobahn|Testsuite checks (the full
/// suite runs against the same pipeline; see docs/reliability.md), in-process and on a live node.
@Suite("WebSocket conformance")
struct WebSocketConformanceTests {
    private static let mask = WebSocketMaskingKey([1, 2, 3, 4] as [UInt8])!

    /// Feeds frames through a validator; returns the violation it raised, if any, and what passed.
    private func validate(_ frames: [WebSocketFrame]) throws -> (violation: WebSocketFrameValidator.Violation?, passed: Int) {
        let channel = EmbeddedChannel(handler: WebSocketFrameValidator())
        var violation: WebSocketFrameValidator.Violation?
        for frame in frames {
            do {
                try channel.writeInbound(frame)
            } catch let error as WebSocketFrameValidator.Violation {
                violation = error
            }
        }
        var passed = 0
        while try channel.readInbound(as: WebSocketFrame.self) != nil { passed += 1 }
        return (violation, passed)
    }

    private func frame(_ opcode: WebSocketOpcode, _ bytes: [UInt8], fin: Bool = true, rsv1: Bool = false, masked: Bool = true) -> WebSocketFrame {
        var data = ByteBuffer(bytes: bytes)
        if masked { data.webSocketMask(Self.mask) }
        return WebSocketFrame(fin: fin, rsv1: rsv1, opcode: opcode, maskKey: masked ? Self.mask : nil, data: data)
    }

    private func close(_ code: UInt16, reason: [UInt8] = []) -> WebSocketFrame {
        frame(.connectionClose, [UInt8(code >> 8), UInt8(code & 0xFF)] + reason)
    }

    @Test func eachClassOfViolationGetsItsCloseCode() throws {
        let euro: [UInt8] = [0xE2, 0x82, 0xAC]
        let cases: [(String, [WebSocketFrame], UInt16?)] = [
            ("valid text split inside a character", [frame(.text, Array(euro[0..<1]), fin: false), frame(.continuation, Array(euro[1...]))], nil),
            ("unmasked", [frame(.text, Array("hi".utf8), masked: false)], 1002),
            ("RSV1 without an extension", [frame(.text, Array("hi".utf8), rsv1: true)], 1002),
            ("reserved opcode", [frame(WebSocketOpcode(encodedWebSocketOpcode: 0x3)!, [])], 1002),
            ("invalid UTF-8 text", [frame(.text, [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xED, 0xA0, 0x80])], 1007),
            ("invalid UTF-8 in a later fragment", [frame(.text, Array("ok".utf8), fin: false), frame(.continuation, [0xF5], fin: false)], 1007),
            ("text ending inside a character", [frame(.text, Array(euro[0..<2]))], 1007),
            ("continuation without a message", [frame(.continuation, Array("x".utf8))], 1002),
            ("new message before the last ended", [frame(.text, [0x61], fin: false), frame(.text, [0x62])], 1002),
            ("1-byte close body", [frame(.connectionClose, [0x03])], 1002),
            ("close code 999", [close(999)], 1002),
            ("close code 1005", [close(1005)], 1002),
            ("close code 1016", [close(1016)], 1002),
            ("close code 2999", [close(2999)], 1002),
            ("close reason not UTF-8", [close(1000, reason: [0xFF])], 1007),
            ("close code 3000 with a reason", [close(3000, reason: Array("bye".utf8))], nil),
            ("empty close", [frame(.connectionClose, [])], nil),
        ]
        for (name, frames, expected) in cases {
            let (violation, passed) = try validate(frames)
            #expect(violation?.closeCode.rawValue == expected, "\(name)")
            if expected == nil { #expect(passed == frames.count, "\(name)") }
        }
    }

    @Test func utf8ValidatorAgreesWithTheStandardLibrary() {
        let samples: [[UInt8]] = [
            Array("héllo €𝄞".utf8), [0xC0, 0x80], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80],
            [0xF0, 0x9F, 0x98], [0x80], [0xFE], [0xEF, 0xBF, 0xBF], [0xF4, 0x8F, 0xBF, 0xBF], [],
        ]
        for bytes in samples {
            #expect(UTF8Validator.isValid(bytes) == (String(validating: bytes, as: UTF8.self) != nil), "\(bytes)")
        }
    }

    @Test("a production node closes each class of violation with its code")
    func liveNode() async throws {
        let node = try await RunningNode.start()
        let token = try await Fixture.token()
        let cases: [(String, (TestWebSocketClient) async throws -> Void, UInt16)] = [
            ("unmasked", { try await $0.sendFrame(opcode: .text, data: Array(#"{"type":"ping"}"#.utf8), masked: false) }, 1002),
            ("RSV1", { try await $0.sendFrame(opcode: .text, data: Array(#"{"type":"ping"}"#.utf8), rsv1: true) }, 1002),
            ("reserved opcode", { try await $0.sendFrame(opcode: WebSocketOpcode(encodedWebSocketOpcode: 0xB)!, data: []) }, 1002),
            ("invalid UTF-8", { try await $0.sendFrame(opcode: .text, data: [0x7B, 0xFF, 0x7D]) }, 1007),
            ("close code 1004", { try await $0.sendFrame(opcode: .connectionClose, data: [0x03, 0xEC]) }, 1002),
            ("1-byte close", { try await $0.sendFrame(opcode: .connectionClose, data: [0x03]) }, 1002),
            ("close reason not UTF-8", { try await $0.sendFrame(opcode: .connectionClose, data: [0x03, 0xE8, 0xC3, 0x28]) }, 1007),
            ("valid close 4000 is echoed", { try await $0.sendFrame(opcode: .connectionClose, data: [0x0F, 0xA0]) }, 4000),
        ]
        for (name, send, expected) in cases {
            let client = try await node.connect(token: token)
            try await send(client)
            var code: UInt16?
            for _ in 0..<20 {
                if case .close(let received, _) = try await client.receive() {
                    code = received
                    break
                }
            }
            #expect(code == expected, "\(name)")
            await client.close()
        }
        await node.stop()
    }
}
