import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A throwaway `redis-server` for integration tests, on a free loopback port with no persistence.
///
/// The process is stopped by ``stop()`` or, at the latest, when the value is deallocated.
/// The executable comes from `HERALD_REDIS_SERVER` or the `PATH`.
public final class RedisServerProcess: @unchecked Sendable {
    /// Why a server could not be started.
    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The TCP port the server listens on, on 127.0.0.1.
    public let port: Int
    /// `redis://127.0.0.1:<port>`.
    public var url: String {
        "redis://127.0.0.1:\(self.port)"
    }

    private let executable: String
    private let extraArguments: [String]
    private let directory: URL
    // Guards `process`; every other stored property is immutable.
    private let lock = NSLock()
    private var process: Process?

    private static let readinessAttempts = 100
    private static let readinessInterval: Duration = .milliseconds(50)

    private init(executable: String, port: Int, extraArguments: [String], directory: URL) {
        self.executable = executable
        self.port = port
        self.extraArguments = extraArguments
        self.directory = directory
    }

    deinit {
        self.stop()
        try? FileManager.default.removeItem(at: self.directory)
    }

    /// Launches a server and waits until it answers PING.
    ///
    /// - Parameter extraArguments: Appended to the command line, e.g. `["--requirepass", "secret"]`.
    public static func start(extraArguments: [String] = []) async throws -> RedisServerProcess {
        let executable = try Self.findExecutable()
        var lastError: Error?
        // Another process can grab the probed port before redis binds it, so try a few ports.
        for _ in 0..<5 {
            let directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("herald-redis-\(UUID().uuidString)", isDirectory: true)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let server = RedisServerProcess(
                executable: executable,
                port: try LoopbackPort.free(),
                extraArguments: extraArguments,
                directory: directory
            )
            do {
                try await server.launch()
                return server
            } catch {
                lastError = error
            }
        }
        throw lastError ?? StartError(description: "redis-server did not start")
    }

    /// Kills the server with SIGKILL, as a crash would, and waits for it to exit.
    public func kill() {
        guard let process = self.takeProcess() else { return }
        if process.isRunning {
            sendSignal(SIGKILL, to: process.processIdentifier)
            sendSignal(SIGCONT, to: process.processIdentifier)
        }
        process.waitUntilExit()
    }

    /// Stops the server with SIGSTOP: the kernel still accepts connections and buffers what clients send, but
    /// nothing is answered — the stall a half-open or wedged Redis looks like. ``resume()`` undoes it.
    public func suspend() {
        guard let pid = self.runningPID else { return }
        sendSignal(SIGSTOP, to: pid)
    }

    /// Continues a server stopped with ``suspend()`` (SIGCONT).
    public func resume() {
        guard let pid = self.runningPID else { return }
        sendSignal(SIGCONT, to: pid)
    }

    /// Sends one command on a fresh connection (authenticating with `--requirepass` when set) and returns the
    /// start of the raw RESP reply, e.g. `+OK\r\n`; nil when nothing answered within a second.
    @discardableResult
    public func command(_ arguments: String...) -> String? {
        let commands = (self.password.map { [["AUTH", $0]] } ?? []) + [arguments]
        let reply = Self.withConnectedSocket(port: self.port) { Self.exchange($0, commands, replies: commands.count) }
        return reply.map { String(decoding: $0, as: UTF8.self) }
    }

    /// `CLIENT PAUSE <milliseconds> ALL`: Redis holds every client's commands (but keeps connections open) until
    /// the pause ends by itself.
    public func pauseClients(milliseconds: Int) throws {
        let reply = self.command("CLIENT", "PAUSE", String(milliseconds), "ALL") ?? ""
        guard reply.hasSuffix("+OK\r\n") else {
            throw StartError(description: "CLIENT PAUSE answered \(reply)")
        }
    }

    /// Whether the server process is alive (not killed or stopped).
    public var isRunning: Bool {
        self.runningPID != nil
    }

    private var runningPID: Int32? {
        self.lock.withLock { self.process.flatMap { $0.isRunning ? $0.processIdentifier : nil } }
    }

    /// Starts the server again on the same port after ``kill()`` or ``stop()``.
    public func restart() async throws {
        self.stop()
        var lastError: Error?
        // The old socket may still be closing; a few tries ride that out.
        for _ in 0..<5 {
            do {
                try await self.launch()
                return
            } catch {
                lastError = error
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        throw lastError ?? StartError(description: "redis-server did not restart")
    }

    /// Stops the server gracefully and waits for it to exit (SIGKILL after 5 s). Safe to call repeatedly.
    ///
    /// The stop is asked for with `SHUTDOWN NOSAVE` as well as SIGTERM: a child spawned from a Swift
    /// concurrency or dispatch thread inherits that thread's blocked signal mask, so redis may never see SIGTERM.
    public func stop() {
        guard let process = self.takeProcess() else { return }
        guard process.isRunning else {
            process.waitUntilExit()
            return
        }
        let pid = process.processIdentifier
        sendSignal(SIGCONT, to: pid)  // a suspended server would answer nothing
        Self.requestShutdown(port: self.port, password: self.password)
        sendSignal(SIGTERM, to: pid)
        let watchdog = DispatchWorkItem { sendSignal(SIGKILL, to: pid) }
        DispatchQueue.global().asyncAfter(deadline: .now() + 5, execute: watchdog)
        process.waitUntilExit()
        watchdog.cancel()
    }

    /// The `--requirepass` value among the extra arguments, needed to send SHUTDOWN.
    private var password: String? {
        guard let index = self.extraArguments.firstIndex(of: "--requirepass"), index + 1 < self.extraArguments.count else {
            return nil
        }
        return self.extraArguments[index + 1]
    }

    private func takeProcess() -> Process? {
        self.lock.withLock {
            let process = self.process
            self.process = nil
            return process
        }
    }

    private func launch() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: self.executable)
        process.arguments = [
            "--port", String(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", self.directory.path,
            "--logfile", self.directory.appendingPathComponent("redis.log").path,
        ] + self.extraArguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.lock.withLock { self.process = process }

        for _ in 0..<Self.readinessAttempts {
            guard process.isRunning else {
                _ = self.takeProcess()
                throw StartError(description: "redis-server exited with status \(process.terminationStatus) on port \(self.port): \(self.logTail())")
            }
            if Self.answersPing(port: self.port) {
                return
            }
            try await Task.sleep(for: Self.readinessInterval)
        }
        self.stop()
        throw StartError(description: "redis-server on port \(self.port) did not answer PING in time: \(self.logTail())")
    }

    private func logTail() -> String {
        let log = (try? String(contentsOf: self.directory.appendingPathComponent("redis.log"), encoding: .utf8)) ?? ""
        return String(log.suffix(500))
    }

    private static func findExecutable() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        if let configured = environment["HERALD_REDIS_SERVER"], !configured.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: configured) else {
                throw StartError(description: "HERALD_REDIS_SERVER=\(configured) is not an executable file")
            }
            return configured
        }
        for directory in (environment["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(directory)/redis-server"
            if FileManager.default.isExecutableFile(atPath: candidate) {
                return candidate
            }
        }
        throw StartError(description: "redis-server not found: run scripts/test.sh, which installs it")
    }

    private static func loopbackAddress(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = in_addr_t(UInt32(0x7F00_0001).bigEndian)
        return address
    }

    private static func makeTCPSocket() -> Int32 {
        #if canImport(Darwin)
        socket(AF_INET, SOCK_STREAM, 0)
        #else
        socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #endif
    }

    /// Connects to 127.0.0.1:`port` with 1 s send/receive timeouts and runs `body` with the socket.
    private static func withConnectedSocket<Result>(port: Int, _ body: (Int32) -> Result?) -> Result? {
        let fd = Self.makeTCPSocket()
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = Self.loopbackAddress(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return nil }
        return body(fd)
    }

    /// Writes `commands` in RESP and reads the first bytes of the answer (until `replies` CRLF-terminated lines).
    private static func exchange(_ fd: Int32, _ commands: [[String]], replies: Int = 1) -> [UInt8]? {
        var request: [UInt8] = []
        for command in commands {
            request += Array("*\(command.count)\r\n".utf8)
            for argument in command {
                request += Array("$\(argument.utf8.count)\r\n\(argument)\r\n".utf8)
            }
        }
        guard sendBytes(fd, request) == request.count else { return nil }
        var answer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<64 {
            let received = recv(fd, &chunk, chunk.count, 0)
            guard received > 0 else { break }
            answer += chunk[..<received]
            let lines = zip(answer, answer.dropFirst()).filter { $0 == (13, 10) }.count
            if lines >= replies { break }
        }
        return answer.isEmpty ? nil : answer
    }

    /// Whether something on the port answers PING (`+PONG`, or `-NOAUTH` when a password is set).
    private static func answersPing(port: Int) -> Bool {
        let reply = Self.withConnectedSocket(port: port) { Self.exchange($0, [["PING"]]) }
        guard let first = reply?.first else { return false }
        return first == UInt8(ascii: "+") || first == UInt8(ascii: "-")
    }

    private static func requestShutdown(port: Int, password: String?) {
        let commands = (password.map { [["AUTH", $0]] } ?? []) + [["SHUTDOWN", "NOSAVE"]]
        _ = Self.withConnectedSocket(port: port) { Self.exchange($0, commands) }
    }
}

// File-scope wrappers: inside the class, `kill` and `send` would resolve to its own members.
private func sendSignal(_ signal: Int32, to pid: Int32) {
    _ = kill(pid, signal)
}

private func sendBytes(_ fd: Int32, _ bytes: [UInt8]) -> Int {
    send(fd, bytes, bytes.count, 0)
}
