import EdgeNode
import Foundation

extension Serve {
    /// The live console's files when `HERALD_CONSOLE` is on, read once here at start-up so the
    /// node serves them from memory: `console/index.html`, `console/console.js` and `js/herald.js`
    /// under `HERALD_CONSOLE_ROOT` — by default the `clients/` folder of the checkout the node runs
    /// from (the current directory, or the one the SwiftPM build folder sits in).
    func makeConsole() throws -> ConsoleAssets? {
        guard console else { return nil }
        let root = consoleRoot.nonEmpty ?? Self.defaultConsoleRoot()
        func read(_ path: String) throws -> [UInt8] {
            let file = URL(fileURLWithPath: root).appendingPathComponent(path)
            do {
                return Array(try Data(contentsOf: file))
            } catch {
                throw ConfigurationError.consoleUnavailable(root: root, reason: "cannot read \(path)")
            }
        }
        return ConsoleAssets(page: try read("console/index.html"), script: try read("console/console.js"), client: try read("js/herald.js"))
    }

    /// `clients` in the current directory when it has the console, else the `clients` folder of
    /// the nearest folder above this executable that has one (a checkout whose `.build/` holds it).
    static func defaultConsoleRoot() -> String {
        let files = FileManager.default
        let here = files.currentDirectoryPath + "/clients"
        if files.fileExists(atPath: here + "/console/index.html") { return here }
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {
            let candidate = folder.appendingPathComponent("clients")
            if files.fileExists(atPath: candidate.path + "/console/index.html") { return candidate.path }
            folder.deleteLastPathComponent()
        }
        return here
    }
}
