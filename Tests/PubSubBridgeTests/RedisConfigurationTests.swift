import NIOCore
import Testing

@testable import PubSubBridge

@Suite("Redis URL parsing")
struct RedisConfigurationTests {
    @Test func defaults() {
        let configuration = RedisConfiguration()
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.port == 6379)
        #expect(configuration.database == 0)
        #expect(configuration.username == nil)
        #expect(configuration.password == nil)
        #expect(configuration.connectTimeout == .seconds(5))
        #expect(configuration.reconnectBackoff == .standard)
    }

    @Test func hostOnly() throws {
        let configuration = try RedisConfiguration(url: "redis://cache.internal")
        #expect(configuration == RedisConfiguration(host: "cache.internal"))
    }

    @Test func fullURL() throws {
        let configuration = try RedisConfiguration(url: "redis://herald:secret@10.0.0.5:6380/3")
        #expect(configuration.host == "10.0.0.5")
        #expect(configuration.port == 6380)
        #expect(configuration.username == "herald")
        #expect(configuration.password == "secret")
        #expect(configuration.database == 3)
    }

    @Test func passwordWithoutUser() throws {
        let configuration = try RedisConfiguration(url: "redis://:secret@localhost/")
        #expect(configuration.username == nil)
        #expect(configuration.password == "secret")
        #expect(configuration.database == 0)
    }

    @Test func percentEncodedCredentials() throws {
        let configuration = try RedisConfiguration(url: "redis://us%65r:p%40ss%3Aw%2Frd%25@localhost:6379/0")
        #expect(configuration.username == "user")
        #expect(configuration.password == "p@ss:w/rd%")
    }

    @Test func ipv6Host() throws {
        let configuration = try RedisConfiguration(url: "redis://[::1]:7000")
        #expect(configuration.host == "::1")
        #expect(configuration.port == 7000)
    }

    @Test(arguments: [
        ("redis://", RedisConfigurationError.Code.missingHost),
        ("redis://:6379/0", .missingHost),
        ("redis://user:pw@/1", .missingHost),
        ("redis://localhost:abc", .invalidPort),
        ("redis://localhost:0", .invalidPort),
        ("redis://localhost:65536", .invalidPort),
        ("redis://localhost:", .invalidPort),
        ("redis://localhost/abc", .invalidDatabase),
        ("redis://localhost/-1", .invalidDatabase),
        ("redis://localhost/1/2", .invalidDatabase),
        ("rediss://localhost", .tlsNotSupported),
        ("http://localhost", .invalidScheme),
        ("localhost:6379", .invalidScheme),
        ("redis://[::1", .invalidHost),
        ("redis://:p%4@localhost", .invalidPercentEncoding),
        ("redis://localhost?db=1", .unsupportedQuery),
    ])
    func rejectsBadURL(url: String, code: RedisConfigurationError.Code) {
        #expect {
            try RedisConfiguration(url: url)
        } throws: { error in
            (error as? RedisConfigurationError)?.code == code
        }
    }

    @Test func errorDescriptionNeverShowsPassword() {
        do {
            _ = try RedisConfiguration(url: "redis://:hunter2@localhost:notaport")
            Issue.record("expected an error")
        } catch {
            let description = "\(error)"
            #expect(description.contains("notaport"))
            #expect(!description.contains("hunter2"))
        }
    }

    @Test func passwordsWithSlashesAndOtherDelimitersParse() throws {
        let configuration = try RedisConfiguration(url: "redis://app:pa/ss?w#rd@cache.internal:6380/3")
        #expect(configuration.username == "app")
        #expect(configuration.password == "pa/ss?w#rd")
        #expect(configuration.host == "cache.internal" && configuration.port == 6380 && configuration.database == 3)
        #expect(try RedisConfiguration(url: "redis://:a@b/c@localhost").password == "a@b/c")
        do {
            _ = try RedisConfiguration(url: "redis://:se/cret@localhost:bad")
            Issue.record("expected an error")
        } catch {
            #expect(!"\(error)".contains("se/cret") && !"\(error)".contains("cret"))
        }
    }

    @Test func tlsErrorExplainsItself() {
        do {
            _ = try RedisConfiguration(url: "rediss://localhost")
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("rediss:// (TLS) is not supported"))
        }
    }
}
