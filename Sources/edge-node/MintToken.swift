import ArgumentParser
import EdgeNode
import Foundation

struct MintToken: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Print an HS256 client token for development and load tests.")

    @Option(help: "Account id the token grants.")
    var account: String

    @Option(help: "User id (sub).")
    var user: String

    @Option(help: "Comma-separated sub-channels the user may join (* for any).")
    var channels: String = ""

    @Option(help: "Lifetime in seconds.")
    var ttl: Int = 3600

    @Option(help: "HS256 secret. [HERALD_JWT_SECRET]")
    var secret: String = ""

    @Option(help: "Token claim holding the account id. [HERALD_JWT_ACCOUNT_CLAIM]")
    var accountClaim: String = environment("JWT_ACCOUNT_CLAIM") ?? "account"

    func run() async throws {
        guard let secret = secret.nonEmpty ?? environment("JWT_SECRET") else { throw ValidationError("no secret: pass --secret or set HERALD_JWT_SECRET") }
        let token = try await DevelopmentToken.mint(
            secret: secret, account: account, user: user, accountClaim: accountClaim,
            channels: channels.split(separator: ",").map(String.init), lifetime: TimeInterval(ttl))
        print(token)
    }
}
