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

extension EdgeNodeCommand {
    /// Runs the command; a malformed option exits with 2 like an invalid configuration (and
    /// unlike ArgumentParser's default 64), so deploy tooling sees one code for "fix the config".
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            guard code == .validationFailure else { exit(withError: error) }
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            Foundation.exit(2)
        }
    }
}
