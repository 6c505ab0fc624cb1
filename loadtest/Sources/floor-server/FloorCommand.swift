import ArgumentParser
import FloorServer
import Foundation
import Logging

/// `floor-server`: the bare SwiftNIO broadcast floor (see `FloorServer`).
@main
struct FloorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "floor-server",
        abstract: "Bare WebSocket broadcast: GET /sub/{key} subscribes, POST /pub/{key} broadcasts the body.")

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port (0: any; the bound port is printed).") var port = 8090
    @Option(help: "Event loop threads.") var eventLoops = 2
    @Option(help: "Exit after this many seconds (0: run until killed).") var seconds = 0.0

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let server = try await FloorServer.start(host: host, port: port, eventLoops: eventLoops)
        FileHandle.standardOutput.write(Data("floor-server listening on \(host):\(server.port)\n".utf8))
        if seconds > 0 {
            try await Task.sleep(for: .seconds(seconds))
        } else {
            while true { try await Task.sleep(for: .seconds(3600)) }
        }
        try await server.stop()
    }
}
