import Foundation
import HeraldProtocol
import NIOCore

/// What Herald sends a Socket.IO client, as Engine.IO message packets (`4` + a Socket.IO packet).
///
/// A Herald event `{"type":T,"data":D,"offset":O}` becomes the event `42[T,D,O]`: named by its
/// `type`, with `data` (or, when it has none, the whole event) as the argument and the history
/// offset as the last argument — where Socket.IO's connection-state recovery reads it and sends
/// it back in its next `CONNECT`. An event without an offset has no such argument, unless its
/// argument is a string, which a recovering client would take for an offset: then `null` follows.
enum SocketIOPacketEncoder {
    /// The event packet of a Herald event payload (validated JSON).
    static func event(_ payload: ByteBuffer, offset: String?, allocator: ByteBufferAllocator) -> ByteBuffer {
        payload.withUnsafeReadableBytes { raw in
            var packet = allocator.buffer(capacity: raw.count + 64)
            packet.writeStaticString("42[")
            guard let outline = try? JSONScanner().scan(raw), outline.root.kind == .object else {
                packet.writeStaticString(#""message","#)
                packet.writeBytes(raw)
                packet.writeStaticString("]")
                return packet
            }
            let type = outline.members.first { $0.key.isString("type", in: raw) }?.value
            let data = outline.members.first { $0.key.isString("data", in: raw) }?.value
            if let type, type.kind == .string {
                packet.writeBytes(UnsafeRawBufferPointer(rebasing: raw[type.range]))
            } else {
                packet.writeStaticString(#""message""#)
            }
            packet.writeStaticString(",")
            packet.writeBytes(data.map { UnsafeRawBufferPointer(rebasing: raw[$0.range]) } ?? raw)
            if let offset {
                packet.writeStaticString(#",""#)
                packet.writeString(offset)
                packet.writeStaticString(#"""#)
            } else if data?.kind == .string {
                packet.writeStaticString(",null")
            }
            packet.writeStaticString("]")
            return packet
        }
    }

    /// A server message: the answer to an emit that asked for an ack (`43<id>[reply]`), or an
    /// event named by the message's type with the message as its argument. `connected` carries
    /// the start offset as its last argument, so a recovering client has an offset from the start.
    static func message(_ message: ServerMessage, allocator: ByteBufferAllocator) -> ByteBuffer {
        let json = message.encoded()
        var packet = allocator.buffer(capacity: json.count + 32)
        if case .integer(let id) = message.ref {
            packet.writeString("43\(id)[")
            packet.writeBytes(json)
            packet.writeStaticString("]")
            return packet
        }
        packet.writeStaticString("42[")
        packet.writeString(jsonString(typeName(message)))
        packet.writeStaticString(",")
        packet.writeBytes(json)
        if case .connected(_, _, _, _, _, let offset?) = message {
            packet.writeString(",\(jsonString(offset))")
        }
        packet.writeStaticString("]")
        return packet
    }

    /// The `CONNECT` answer: the socket id, and the private id a recovering client sends back.
    static func connected(socketID: String, pid: String) -> [UInt8] {
        Array("40{\"sid\":\(jsonString(socketID)),\"pid\":\(jsonString(pid))}".utf8)
    }

    /// A refused `CONNECT`: the client's `connect_error` gets `message`, with `data.error` the Herald code.
    static func connectError(code: ErrorCode, message: String, namespace: String = "/") -> [UInt8] {
        let prefix = namespace == "/" ? "" : "\(namespace),"
        return Array("44\(prefix){\"message\":\(jsonString(message)),\"data\":{\"error\":\(jsonString(code.rawValue))}}".utf8)
    }

    /// The server ends the socket (`io server disconnect`: the client does not reconnect by itself).
    static let disconnect = Array("41".utf8)

    private static func typeName(_ message: ServerMessage) -> String {
        switch message {
        case .connected: return ReservedEventType.connected
        case .pong: return ReservedEventType.pong
        case .ack: return ReservedEventType.ack
        case .error: return ReservedEventType.error
        case .recovery: return ReservedEventType.recovery
        case .presenceState: return ReservedEventType.presenceState
        case .refreshed: return ReservedEventType.refreshed
        case .reply: return ServerMessage.replyType
        }
    }

    /// `text` as a JSON string literal.
    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

extension FrameEncodings {
    /// Socket.IO: the event packet `42[type,data,offset]` in a complete WebSocket text frame.
    /// Polling clients get the same bytes past the frame header (``SocketIOFrame/packet(in:)``),
    /// so one encoding per node serves both Engine.IO carriers.
    static let socketIO = Encoding(name: "socket.io") { payload, offset, allocator in
        WebSocketTextFrame.encode(SocketIOPacketEncoder.event(payload, offset: offset?.description, allocator: allocator), allocator: allocator)
    }
}
