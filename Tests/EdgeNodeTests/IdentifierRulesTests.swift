@testable import EdgeNode
import HeraldProtocol
import NIOHTTP1
import Testing

/// The rules for account ids, channel grants, API key scopes and WebSocket request targets.
@Suite("Identifier rules")
struct IdentifierRulesTests {
    @Test func accountNames() {
        for name in ["auth0|5f3c", "org:42", "ops@example.com", "a.b-c_d", "x*", #"q"\"#, "%2F", String(repeating: "z", count: 128)] {
            #expect(AccountName.isValid(name), "\(name)")
        }
        for name in ["", "a}b", "{a", "a b", "tab\t", "é", String(repeating: "z", count: 129), "\u{7F}"] {
            #expect(!AccountName.isValid(name), "\(name)")
        }
    }

    @Test func channelPrefixGrants() {
        let identity = ClientIdentity(user: "u", account: "a", channels: ["kpi:*", "inbox"])
        #expect(identity.mayJoin("kpi:sales"))
        #expect(identity.mayJoin("kpi:"))
        #expect(identity.mayJoin("inbox"))
        #expect(!identity.mayJoin("kpi"))
        #expect(!identity.mayJoin("kpis"))
        #expect(!identity.mayJoin("inbox2"))
        #expect(ClientIdentity(user: "u", account: "a", channels: ["*"]).mayJoin("anything"))
        #expect(!ClientIdentity(user: "u", account: "a", channels: []).mayJoin("kpi:sales"))
    }

    @Test func apiKeyScopes() throws {
        #expect(APIKeyScope.entries(in: "k1, k2{acme}{org:*} ,k3{tenant,comma}{x}") == ["k1", "k2{acme}{org:*}", "k3{tenant,comma}{x}"])
        let (key, scope) = try APIKeyScope.parse(entry: "k2{acme}{org:*}{auth0|x}")
        #expect(key == "k2")
        #expect(scope.allows("acme") && scope.allows("org:42") && scope.allows("org:") && scope.allows("auth0|x"))
        #expect(!scope.allows("acme2") && !scope.allows("org") && !scope.allows("auth0|y"))
        let plain = try APIKeyScope.parse(entry: "plain")
        #expect(plain.key == "plain" && plain.scope == .all)
        #expect(try APIKeyScope.parse(entry: "k{*}").scope == .all)
        for bad in ["{acme}", "k{acme", "k{acme}x", "k{}", "k{a b}", "k}"] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try APIKeyScope.parse(entry: bad) }
        }
    }

    @Test func webSocketRoutes() {
        let route = WebSocketRoute(uri: "/ws/accounts/auth0|5f3c/?token=a.b.c&channels=kpi:a,inbox&since=x")
        #expect(route?.pathAccount == "auth0|5f3c")
        #expect(route?.token == "a.b.c")
        #expect(route?.channels == ["kpi:a", "inbox"])
        #expect(route?.since == "x")
        #expect(WebSocketRoute(uri: "/ws/accounts/org%3A42%2Fx/")?.pathAccount == "org:42/x")
        #expect(WebSocketRoute(uri: "/ws")?.pathAccount == nil)
        #expect(WebSocketRoute(uri: "/ws/accounts/a/b/") == nil)
        #expect(WebSocketRoute(uri: "/wss") == nil)
        // Query values are decoded only when they hold an escape; a bad escape drops the item.
        #expect(WebSocketRoute(uri: "/ws?token=a%2Eb&since=0%3A1-0")?.token == "a.b")
        #expect(WebSocketRoute(uri: "/ws?token=a%2Eb&since=0%3A1-0")?.since == "0:1-0")
        #expect(WebSocketRoute(uri: "/ws?token=%ZZ&since=x")?.token == nil)
        #expect(WebSocketRoute.isEndpoint("/ws/accounts/42/?token=%ZZ"))
        #expect(!WebSocketRoute.isEndpoint("/api/v1/publish?x=/ws"))
    }

    @Test func refusalCloseCodes() {
        func code(_ error: AuthenticationError) -> UInt16 { WebSocketRefusalCloser.closeCode(for: HTTPRefusal(error)).rawValue }
        #expect(code(.missingToken) == 4401)
        #expect(code(.expired) == 4003)
        #expect(code(.accountMismatch) == 4403)
        #expect(code(.invalidChannel("a b")) == 4400)
        #expect(WebSocketRefusalCloser.closeCode(for: HTTPRefusal(status: .serviceUnavailable, code: .unavailable, message: "")).rawValue == 4503)
        #expect(WebSocketRefusalCloser.closeCode(for: HTTPRefusal(status: .serviceUnavailable, code: .draining, message: "")).rawValue == 1012)
        let long = HTTPRefusal(status: .unauthorized, code: .unauthorized, message: String(repeating: "é", count: 200))
        #expect(WebSocketRefusalCloser.reason(for: long).utf8.count <= 123)
    }

    @Test func tokenSubprotocols() {
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/ws")
        head.headers.add(name: "Sec-WebSocket-Protocol", value: "access_token, eyJ")
        #expect(HandshakeAuthenticator.offeredTokenSubprotocol(head) == "access_token")
        head.headers.replaceOrAdd(name: "Sec-WebSocket-Protocol", value: "bearer, eyJ")
        #expect(HandshakeAuthenticator.offeredTokenSubprotocol(head) == "bearer")
    }
}
