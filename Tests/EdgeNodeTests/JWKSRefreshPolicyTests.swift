@testable import EdgeNode
import Testing

/// The JWKS schedule as a value: cache headers bounded by the minimum and regular intervals,
/// backoff after failures, unknown-kid fetches spaced by the minimum interval.
@Suite("JWKS refresh policy")
struct JWKSRefreshPolicyTests {
    @Test func cacheHeadersAreBounded() {
        var policy = JWKSRefreshPolicy(interval: .seconds(600), minimumInterval: .seconds(30))
        policy.started(at: .zero)
        policy.succeeded(at: .seconds(1), maxAge: .seconds(120))
        #expect(policy.nextRefresh == .seconds(121))
        policy.succeeded(at: .seconds(1), maxAge: .seconds(5))
        #expect(policy.nextRefresh == .seconds(31))
        policy.succeeded(at: .seconds(1), maxAge: .seconds(86_400))
        #expect(policy.nextRefresh == .seconds(601))
        policy.succeeded(at: .seconds(1), maxAge: nil)
        #expect(policy.nextRefresh == .seconds(601))
    }

    @Test func failuresBackOffToTheMinimum() {
        var policy = JWKSRefreshPolicy(interval: .seconds(600), minimumInterval: .seconds(10))
        var waits: [Duration] = []
        for _ in 0..<6 {
            policy.failed(at: .zero)
            waits.append(policy.nextRefresh)
        }
        #expect(waits == [.seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(10), .seconds(10)])
        policy.succeeded(at: .zero, maxAge: nil)
        policy.failed(at: .zero)
        #expect(policy.nextRefresh == .seconds(1))
    }

    @Test func unknownKeysWaitForTheMinimumInterval() {
        var policy = JWKSRefreshPolicy(interval: .seconds(600), minimumInterval: .seconds(30))
        #expect(policy.mayRefreshForUnknownKey(at: .zero))
        policy.started(at: .seconds(5))
        #expect(!policy.mayRefreshForUnknownKey(at: .seconds(34)))
        #expect(policy.mayRefreshForUnknownKey(at: .seconds(35)))
    }

    @Test func cacheControl() {
        #expect(JWKSRefreshPolicy.maxAge(cacheControl: "public, max-age=15, stale-while-revalidate=15") == .seconds(15))
        #expect(JWKSRefreshPolicy.maxAge(cacheControl: "no-cache") == .zero)
        #expect(JWKSRefreshPolicy.maxAge(cacheControl: "private") == nil)
        #expect(JWKSRefreshPolicy.maxAge(cacheControl: "max-age=abc") == nil)
    }
}
