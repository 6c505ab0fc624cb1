import EdgeNode
import HeraldTestSupport
import Testing

/// The live console (`/console`) is served only when configured, from memory, with a content
/// security policy that keeps the page to this node.
@Suite("Console endpoint")
struct ConsoleEndpointTests {
    private let assets = ConsoleAssets(
        page: Array("<!doctype html><title>Herald console</title>".utf8),
        script: Array("import { HeraldClient } from \"/console/herald.js\";".utf8),
        client: Array("export class HeraldClient {}".utf8))

    @Test("off by default: /console is 404")
    func offByDefault() async throws {
        let node = try await RunningNode.start()
        let response = try await TestHTTPClient.request(.GET, port: node.port, path: "/console")
        #expect(response.status == 404)
        await node.stop()
    }

    @Test("on: the page, its script and herald.js, each with its type and the policy")
    func serves() async throws {
        let node = try await RunningNode.start { $0.console = assets }
        for (path, type, body) in [
            ("/console", "text/html; charset=utf-8", assets.page), ("/console/", "text/html; charset=utf-8", assets.page),
            ("/console/console.js", "text/javascript; charset=utf-8", assets.script),
            ("/console/herald.js", "text/javascript; charset=utf-8", assets.client),
        ] {
            let response = try await TestHTTPClient.request(.GET, port: node.port, path: path)
            #expect(response.status == 200, "\(path)")
            #expect(Array(response.body.utf8) == body, "\(path)")
            let headers = Dictionary(response.headers.map { ($0.0.lowercased(), $0.1) }, uniquingKeysWith: { first, _ in first })
            #expect(headers["content-type"] == type, "\(path)")
            #expect(headers["content-security-policy"]?.hasPrefix("default-src 'self'") == true, "\(path)")
            #expect(headers["x-content-type-options"] == "nosniff", "\(path)")
        }
        let post = try await TestHTTPClient.request(.POST, port: node.port, path: "/console", body: "")
        #expect(post.status == 405)
        let other = try await TestHTTPClient.request(.GET, port: node.port, path: "/console/other.js")
        #expect(other.status == 404)
        await node.stop()
    }
}
