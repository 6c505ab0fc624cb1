import ArgumentParser
import Foundation
import SwarmKit

/// `swarm report`: one HTML page (and a comparison table) from several JSON results, e.g. Herald,
/// Nchan and the floor server in one chart.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Combine JSON results into one HTML report.")

    @Option(help: "Write the HTML here.") var html: String
    @Option(help: "Page title.") var title = "swarm comparison"
    @Argument(help: "JSON result files (from --json).") var results: [String]

    func run() throws {
        let reports = try results.map { path in
            try JSONDecoder().decode(RunReport.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        }
        try HTMLReport.render(reports, title: title).write(toFile: html, atomically: true, encoding: .utf8)
        for report in reports {
            let best = report.maxPassingDeliveriesPerSecond.map { String(Int($0)) } ?? "none"
            print("\(report.setup.label): best passing step \(best) deliveries/s over \(report.steps.count) steps")
        }
    }
}
