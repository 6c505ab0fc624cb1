import NIOCore

/// Parses the server's answer to the upgrade request from raw bytes.
///
/// A plain value fed by ``TestWebSocketHandshakeHandler``: it finds the end of a `101` head exactly (so the bytes
/// behind it can go to the frame decoder untouched), and reads the body of any other response by `Content-Length`,
/// chunked encoding, or until the connection closes. Interim `1xx` responses other than `101` are skipped.
struct TestWebSocketHTTPResponseParser {
    enum Outcome {
        /// Feed more bytes (or EOF).
        case needMoreData
        /// A `101` head; `leftover` holds the bytes that followed it.
        case switchingProtocols(headers: [(String, String)], leftover: ByteBuffer)
        /// Any other complete response.
        case refused(HTTPRefusal)
    }

    private enum Framing {
        case length(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
    }

    private enum State {
        case head
        case body(status: Int, headers: [(String, String)], framing: Framing)
        case done
    }

    /// The longest response head accepted.
    private let maxHeadSize: Int
    /// The longest refusal body accepted.
    private let maxBodySize: Int
    private var state = State.head
    private var buffer = ByteBuffer()
    private var body = ByteBuffer()

    init(maxHeadSize: Int = 64 * 1024, maxBodySize: Int = 16 * 1024 * 1024) {
        self.maxHeadSize = maxHeadSize
        self.maxBodySize = maxBodySize
    }

    /// Adds received bytes and parses as far as possible.
    mutating func feed(_ bytes: ByteBuffer) throws -> Outcome {
        var bytes = bytes
        self.buffer.writeBuffer(&bytes)
        while true {
            switch self.state {
            case .done:
                return .needMoreData
            case .head:
                guard let headEnd = self.buffer.readableBytesView.firstRange(of: [13, 10, 13, 10]) else {
                    if self.buffer.readableBytes > self.maxHeadSize {
                        throw TestWebSocketClientError(.handshakeFailed, "response head longer than \(self.maxHeadSize) bytes")
                    }
                    return .needMoreData
                }
                let headLength = headEnd.upperBound - self.buffer.readerIndex
                let head = self.buffer.readString(length: headLength)!
                let (status, headers) = try Self.parseHead(head)
                if status == 101 {
                    self.state = .done
                    let leftover = self.buffer.slice()
                    self.buffer.clear()
                    return .switchingProtocols(headers: headers, leftover: leftover)
                }
                if (100..<200).contains(status) {
                    continue  // an interim response; the real one follows
                }
                self.state = .body(status: status, headers: headers, framing: Self.framing(status: status, headers: headers))
            case .body(let status, let headers, let framing):
                let next = try self.readBody(framing)
                if self.body.readableBytes > self.maxBodySize {
                    throw TestWebSocketClientError(.handshakeFailed, "response body longer than \(self.maxBodySize) bytes")
                }
                guard let next else {
                    return .needMoreData
                }
                if let next {
                    self.state = .body(status: status, headers: headers, framing: next)
                } else {
                    self.state = .done
                    return .refused(HTTPRefusal(status: status, headers: headers, body: String(buffer: self.body)))
                }
            }
        }
    }

    /// The connection has ended: completes a body delimited by the close, or fails.
    mutating func feedEOF() throws -> Outcome {
        if case .body(let status, let headers, .untilClose) = self.state {
            self.state = .done
            return .refused(HTTPRefusal(status: status, headers: headers, body: String(buffer: self.body)))
        }
        throw TestWebSocketClientError(.handshakeFailed, "the server closed the connection before a complete response")
    }

    /// Consumes body bytes for `framing`. Returns `nil` when more data is needed, `.some(nil)` when the body is
    /// complete, or the next framing state.
    private mutating func readBody(_ framing: Framing) throws -> Framing?? {
        switch framing {
        case .length(let remaining):
            if remaining == 0 { return .some(nil) }
            guard self.buffer.readableBytes > 0 else { return nil }
            return .some(.length(remaining: remaining - self.takeBody(upTo: remaining)))
        case .untilClose:
            guard self.buffer.readableBytes > 0 else { return nil }
            _ = self.takeBody(upTo: .max)
            return nil
        case .chunkSize:
            guard let line = self.readLine() else { return nil }
            let sizeText = line.split(separator: ";").first.map { $0.trimming(" \t") } ?? ""
            guard let size = Int(sizeText, radix: 16), size >= 0 else {
                throw TestWebSocketClientError(.handshakeFailed, "bad chunk size line \(line.debugDescription)")
            }
            return .some(size == 0 ? .trailers : .chunkData(remaining: size))
        case .chunkData(let remaining):
            if remaining == 0 { return .some(.chunkDataEnd) }
            guard self.buffer.readableBytes > 0 else { return nil }
            return .some(.chunkData(remaining: remaining - self.takeBody(upTo: remaining)))
        case .chunkDataEnd:
            guard self.readLine() != nil else { return nil }
            return .some(.chunkSize)
        case .trailers:
            guard let line = self.readLine() else { return nil }
            return .some(line.isEmpty ? nil : .trailers)
        }
    }

    private mutating func takeBody(upTo limit: Int) -> Int {
        let count = min(limit, self.buffer.readableBytes)
        var slice = self.buffer.readSlice(length: count)!
        self.body.writeBuffer(&slice)
        return count
    }

    private mutating func readLine() -> String? {
        guard let end = self.buffer.readableBytesView.firstRange(of: [13, 10]) else { return nil }
        let line = self.buffer.readString(length: end.lowerBound - self.buffer.readerIndex)!
        self.buffer.moveReaderIndex(forwardBy: 2)
        return line
    }

    private static func parseHead(_ head: String) throws -> (Int, [(String, String)]) {
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: true)[...]
        guard let statusLine = lines.popFirst() else {
            throw TestWebSocketClientError(.handshakeFailed, "empty response head")
        }
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw TestWebSocketClientError(.handshakeFailed, "bad status line \(String(statusLine).debugDescription)")
        }
        let headers = lines.map { line -> (String, String) in
            guard let colon = line.firstIndex(of: ":") else { return (String(line), "") }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimming(" \t"))
        }
        return (status, headers)
    }

    private static func framing(status: Int, headers: [(String, String)]) -> Framing {
        func values(_ name: String) -> [String] {
            headers.filter { $0.0.lowercased() == name }.map { $0.1.lowercased() }
        }
        if status == 204 || status == 304 {
            return .length(remaining: 0)
        }
        if values("transfer-encoding").contains(where: { $0.contains("chunked") }) {
            return .chunkSize
        }
        if let length = values("content-length").first.flatMap({ Int($0) }) {
            return .length(remaining: length)
        }
        return .untilClose
    }
}

extension StringProtocol {
    fileprivate func trimming(_ characters: String) -> String {
        let set = Set(characters)
        return String(self.drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}
