import ArgumentParser
import EdgeNode
import Foundation
import Logging
import ServiceLifecycle

@main
struct EdgeNodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edge-node",
        abstract: "Herald edge node: WebSocket fan-out for accounts, backed by Redis pub/sub.",
        discussion: """
            Every option can also be set with the HERALD_* environment variable named in its help; \
            a flag wins over the variable. Without --redis-url the node runs alone on the embedded broker.
            """,
        subcommands: [Serve.self, MintToken.self],
        defaultSubcommand: Serve.self
    )
}
