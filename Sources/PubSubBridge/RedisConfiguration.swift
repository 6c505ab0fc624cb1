import NIOCore

/// Where and how to connect to Redis.
public struct RedisConfiguration: Sendable, Equatable {
    /// Host name or IP address of the Redis server.
    public var host: String
    /// TCP port of the Redis server.
    public var port: Int
    /// ACL user for `AUTH`; `nil` authenticates as the default user.
    public var username: String?
    /// Password for `AUTH`; `nil` skips authentication.
    public var password: String?
    /// Database selected with `SELECT` after connecting.
    public var database: Int
    /// How long connecting, authenticating, selecting the database and a first `PING` may take together.
    ///
    /// The `PING` matters: a stopped (SIGSTOP) or paused Redis still completes the TCP handshake in the kernel.
    public var connectTimeout: TimeAmount
    /// Delays between reconnect attempts after a connection drops.
    public var reconnectBackoff: ReconnectBackoff
    /// How long Redis may take to answer each command. A command past its deadline fails with
    /// ``RedisError/timeout(_:)`` and closes its connection, failing every command still waiting on it
    /// (replies are matched in order, so a late reply could not be told apart); the connection then reconnects.
    public var commandTimeout: TimeAmount
    /// After this long without a reply, an idle connection (commands or subscriber) sends `PING`, which must be
    /// answered within ``commandTimeout``: a stalled Redis is noticed within `keepaliveInterval + commandTimeout`.
    /// `nil` sends no keepalive.
    public var keepaliveInterval: TimeAmount?
    /// The most commands one connection may have waiting for replies; more fail at once with
    /// ``RedisError/tooManyPendingCommands(limit:)`` instead of queueing behind a slow Redis.
    public var maxPendingCommands: Int
    /// Commands sent on the connection's own event loop are flushed once at the end of the loop's
    /// pass rather than one by one: many requests handled in one pass cost one `write`. Off by
    /// default, so a command is on the wire before whatever the caller does next (an `ack`).
    public var flushesOncePerLoopPass = false

    public init(
        host: String = "127.0.0.1",
        port: Int = 6379,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = .seconds(5)
        self.reconnectBackoff = .standard
        self.commandTimeout = .seconds(2)
        self.keepaliveInterval = .seconds(1)
        self.maxPendingCommands = 10_000
    }

    /// The keepalive interval that goes with a command timeout: half of it, at most one second, so an idle
    /// connection notices a stall within `timeout` plus that interval (3 s at the default 2 s).
    public static func keepaliveInterval(forCommandTimeout timeout: TimeAmount) -> TimeAmount {
        min(.seconds(1), .nanoseconds(max(1_000_000, timeout.nanoseconds / 2)))
    }

    /// Parses `redis://[user:password@]host[:port][/database]`.
    ///
    /// User and password are percent-decoded; `rediss://` (TLS) is rejected because this client speaks plain TCP only.
    public init(url: String) throws {
        self.init()
        let schemeSeparator = "://"
        guard let schemeEnd = url.firstRange(of: schemeSeparator) else {
            throw RedisConfigurationError(.invalidScheme, "missing 'redis://' prefix")
        }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        switch scheme {
        case "redis":
            break
        case "rediss":
            throw RedisConfigurationError(.tlsNotSupported, "rediss:// (TLS) is not supported; use redis:// or a TLS-terminating proxy")
        default:
            throw RedisConfigurationError(.invalidScheme, "scheme '\(scheme)' is not supported; use redis://")
        }

        // The user information ends at the last '@': a password may hold '/', '?', '#' or '@'
        // unencoded, and no error below ever quotes it.
        var remainder = url[schemeEnd.upperBound...]
        if let at = remainder.lastIndex(of: "@") {
            let userInfo = remainder[..<at]
            remainder = remainder[remainder.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                let user = try Self.percentDecoded(userInfo[..<colon], part: "user")
                self.username = user.isEmpty ? nil : user
                self.password = try Self.percentDecoded(userInfo[userInfo.index(after: colon)...], part: "password")
            } else {
                let user = try Self.percentDecoded(userInfo, part: "user")
                self.username = user.isEmpty ? nil : user
            }
        }
        if remainder.contains("?") || remainder.contains("#") {
            throw RedisConfigurationError(.unsupportedQuery, "query parameters and fragments are not supported")
        }
        let authorityEnd = remainder.firstIndex(of: "/") ?? remainder.endIndex
        let authority = remainder[..<authorityEnd]
        let path = remainder[authorityEnd...]

        let portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw RedisConfigurationError(.invalidHost, "IPv6 host '\(authority)' is missing its closing ']'")
            }
            self.host = String(authority[authority.index(after: authority.startIndex)..<close])
            let afterHost = authority[authority.index(after: close)...]
            if afterHost.isEmpty {
                portText = nil
            } else if afterHost.hasPrefix(":") {
                portText = afterHost.dropFirst()
            } else {
                throw RedisConfigurationError(.invalidHost, "unexpected '\(afterHost)' after IPv6 host")
            }
        } else if let colon = authority.firstIndex(of: ":") {
            self.host = String(authority[..<colon])
            portText = authority[authority.index(after: colon)...]
        } else {
            self.host = String(authority)
            portText = nil
        }
        guard !self.host.isEmpty else {
            throw RedisConfigurationError(.missingHost, "no host given")
        }

        if let portText {
            guard let port = Self.decimal(portText), (1...65_535).contains(port) else {
                throw RedisConfigurationError(.invalidPort, "port '\(portText)' is not a number from 1 to 65535")
            }
            self.port = port
        }

        let databaseText = path.dropFirst()
        if !databaseText.isEmpty {
            guard let database = Self.decimal(databaseText) else {
                throw RedisConfigurationError(.invalidDatabase, "database '\(databaseText)' is not a non-negative number")
            }
            self.database = database
        }
    }

    private static func decimal(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.count <= 9, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(text)
    }

    private static func percentDecoded(_ text: Substring, part: String) throws -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(Self.hexValue), let low = iterator.next().flatMap(Self.hexValue) else {
                throw RedisConfigurationError(.invalidPercentEncoding, "the \(part) has a '%' that is not followed by two hex digits")
            }
            bytes.append(high << 4 | low)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
