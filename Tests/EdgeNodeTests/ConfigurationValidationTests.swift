import EdgeNode
import Foundation
import Testing

/// Options out of range, malformed numbers and shipped placeholder secrets stop the node at
/// start-up with exit code 2 and the option's name, instead of a node that misbehaves later.
@Suite("Configuration validation")
struct ConfigurationValidationTests {
    @Test func rangesAndPlaceholders() throws {
        var configuration = Fixture.configuration()
        try configuration.validate()
        configuration.heartbeatSeconds = 0
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
        configuration = Fixture.configuration()
        configuration.apiKeys = ["dev-api-key"]
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
        configuration.developmentMode = true
        try configuration.validate()
        configuration = Fixture.configuration()
        configuration.apiKeys = ["k{acme}{org:*}", "other"]
        try configuration.validate()
        configuration.apiKeys = ["k{acme}", "k{org:*}"]
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
        configuration = Fixture.configuration()
        configuration.authentication.leewaySeconds = 601
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
    }

    /// Runs `edge-node serve` with `environment`; returns its exit status and standard error.
    private func serve(_ environment: [String: String], arguments: [String] = []) throws -> (Int32, String) {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("edge-node")
        let process = Process()
        process.executableURL = binary
        process.arguments = ["serve", "--listen", "127.0.0.1:0"] + arguments
        var variables = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("HERALD_") }
        variables["HERALD_JWT_SECRET"] = Fixture.secret
        for (name, value) in environment { variables[name] = value }
        process.environment = variables
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }

    @Test("an invalid option exits 2 and names it")
    func exitCode() throws {
        let cases: [([String: String], [String], String)] = [
            (["HERALD_HEARTBEAT_SECONDS": "0"], [], "HERALD_HEARTBEAT_SECONDS"),
            (["HERALD_OUTBOUND_BUFFER_BYTES": "lots"], [], "HERALD_OUTBOUND_BUFFER_BYTES"),
            (["HERALD_DRAIN_SECONDS": "99999999999999"], [], "HERALD_DRAIN_SECONDS"),
            (["HERALD_PRESENCE_TTL_SECONDS": "10", "HERALD_PRESENCE_REFRESH_SECONDS": "10"], [], "HERALD_PRESENCE_REFRESH_SECONDS"),
            (["HERALD_API_KEYS": "dev-api-key"], [], "HERALD_API_KEYS"),
            (["HERALD_JWT_SECRET": "replace-with-at-least-32-random-bytes-0000"], [], "HERALD_JWT_SECRET"),
            ([:], ["--max-replay", "many"], "--max-replay"),
            (["HERALD_JWT_LEEWAY_SECONDS": "soon"], [], "HERALD_JWT_LEEWAY_SECONDS"),
            (["HERALD_JWT_LEEWAY_SECONDS": "-1"], [], "HERALD_JWT_LEEWAY_SECONDS"),
            (["HERALD_JWKS_URL": "http://idp.example.com/.well-known/jwks.json"], [], "HERALD_JWKS_URL"),
            (["HERALD_JWKS_MIN_REFRESH_SECONDS": "0"], [], "HERALD_JWKS_MIN_REFRESH_SECONDS"),
            (["HERALD_API_KEYS": "good,scoped{acme}{two words}"], [], "HERALD_API_KEYS"),
            (["HERALD_UPGRADE_REFUSALS": "sometimes"], [], "HERALD_UPGRADE_REFUSALS"),
            (["HERALD_REDIS_CLUSTER_NODES": "127.0.0.1:7000,127.0.0.1"], [], "HERALD_REDIS_CLUSTER_NODES"),
            (["HERALD_REDIS_CLUSTER_NODES": "127.0.0.1:7000", "HERALD_REDIS_URL": "redis://127.0.0.1:6379"], [], "HERALD_REDIS_CLUSTER_NODES"),
            (["HERALD_REDIS_CLUSTER_NODES": "127.0.0.1:7000", "HERALD_LIFECYCLE_STREAM": "herald:lifecycle"], [], "HERALD_LIFECYCLE_STREAM"),
            (["HERALD_REDIS_CLUSTER_NODES": "127.0.0.1:7000", "HERALD_REDIS_WAIT_REPLICAS": "-1"], [], "HERALD_REDIS_WAIT_REPLICAS"),
            (["HERALD_REDIS_CLUSTER_NODES": "127.0.0.1:7000", "HERALD_REDIS_WAIT_TIMEOUT_MS": "5000"], [], "HERALD_REDIS_WAIT_TIMEOUT_MS"),
        ]
        for (environment, arguments, name) in cases {
            let (status, errors) = try serve(environment, arguments: arguments)
            #expect(status == 2, "\(name): \(errors)")
            #expect(errors.contains(name), "\(name): \(errors)")
        }
    }
}
