import ArgumentParser
import Foundation
import Logging
import SwarmKit

/// `swarm`: Herald's load generator. See `swarm run --help`.
@main
struct Swarm: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load-test Herald (or any WebSocket broadcast server) from one process.",
        subcommands: [RunCommand.self, ReportCommand.self],
        defaultSubcommand: RunCommand.self)
}
