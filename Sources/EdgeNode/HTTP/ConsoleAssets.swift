/// The live console's files: the page (`clients/console/index.html`), its script
/// (`clients/console/console.js`) and the client it is built on (`clients/js/herald.js`). The
/// executable reads them once at start-up when `HERALD_CONSOLE` is on; the node serves them from
/// memory and never touches the file system.
public struct ConsoleAssets: Sendable {
    /// `GET /console`: HTML.
    public var page: [UInt8]
    /// `GET /console/console.js`: the page's ES module.
    public var script: [UInt8]
    /// `GET /console/herald.js`: the browser client the page imports.
    public var client: [UInt8]

    public init(page: [UInt8], script: [UInt8], client: [UInt8]) {
        self.page = page
        self.script = script
        self.client = client
    }
}
