import Foundation

/// Renders one or more ``RunReport``s (say Herald, Nchan and the floor server) as a self-contained
/// HTML page: a summary table per run and an inline SVG chart of latency percentiles (p50, p99,
/// p99.9, log scale) against achieved deliveries per second, one point per step.
public enum HTMLReport {
    public static func render(_ reports: [RunReport], title: String = "swarm report") -> String {
        var html = """
            <!doctype html><html><head><meta charset="utf-8"><title>\(escape(title))</title>
            <style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}
            td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f4f4f4}</style></head><body>
            <h1>\(escape(title))</h1>
            """
        html += chart(reports)
        for report in reports {
            html += "<h2>\(escape(report.setup.label))</h2><pre>\(escape(ReportTable.render(report)))</pre>"
        }
        html += "</body></html>\n"
        return html
    }

    /// The SVG chart; runs without steps are left out.
    static func chart(_ reports: [RunReport]) -> String {
        let withSteps = reports.filter { !$0.steps.isEmpty }
        guard !withSteps.isEmpty else { return "<p>No load steps in these runs.</p>" }
        let width = 760.0, height = 420.0, left = 70.0, bottom = 50.0, top = 20.0, right = 160.0
        let points = withSteps.flatMap(\.steps)
        let maxX = max(1, points.map(\.deliveriesPerSecond).max() ?? 1) * 1.05
        let latencies = points.flatMap { [$0.latency.p50, $0.latency.p99, $0.latency.p999] }.filter { $0 > 0 }
        let minY = max(0.01, latencies.min() ?? 0.1) / 2
        let maxY = max(minY * 10, (latencies.max() ?? 1) * 2)
        func x(_ value: Double) -> Double { left + value / maxX * (width - left - right) }
        func y(_ value: Double) -> Double {
            let clamped = max(minY, value)
            return top + (1 - (log10(clamped) - log10(minY)) / (log10(maxY) - log10(minY))) * (height - top - bottom)
        }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-size=\"11\">"
        svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(width - left - right)\" height=\"\(height - top - bottom)\" fill=\"none\" stroke=\"#999\"/>"
        var tick = pow(10, floor(log10(minY)))
        while tick <= maxY {
            if tick >= minY {
                svg += "<line x1=\"\(left)\" x2=\"\(width - right)\" y1=\"\(y(tick))\" y2=\"\(y(tick))\" stroke=\"#eee\"/>"
                svg += "<text x=\"\(left - 6)\" y=\"\(y(tick) + 4)\" text-anchor=\"end\">\(ReportTable.fmt(tick)) ms</text>"
            }
            tick *= 10
        }
        for i in 0...4 {
            let value = maxX * Double(i) / 4
            svg += "<text x=\"\(x(value))\" y=\"\(height - bottom + 16)\" text-anchor=\"middle\">\(Int(value))</text>"
        }
        svg += "<text x=\"\((left + width - right) / 2)\" y=\"\(height - 10)\" text-anchor=\"middle\">deliveries per second (achieved)</text>"
        let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
        let dashes = ["p50": "4 3", "p99": "", "p99.9": "1 3"]
        var legend = 0
        for (runIndex, report) in withSteps.enumerated() {
            let color = colors[runIndex % colors.count]
            for (name, value) in [("p50", \LatencySummary.p50), ("p99", \LatencySummary.p99), ("p99.9", \LatencySummary.p999)] {
                let coordinates = report.steps.map { "\(x($0.deliveriesPerSecond)),\(y($0.latency[keyPath: value]))" }
                svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" stroke-dasharray=\"\(dashes[name]!)\" points=\"\(coordinates.joined(separator: " "))\"/>"
                for step in report.steps {
                    let mark = step.passed ? "" : " stroke=\"#000\""
                    svg += "<circle cx=\"\(x(step.deliveriesPerSecond))\" cy=\"\(y(step.latency[keyPath: value]))\" r=\"3\" fill=\"\(color)\"\(mark)/>"
                }
                let ly = top + 14 + Double(legend) * 16
                svg += "<line x1=\"\(width - right + 10)\" x2=\"\(width - right + 34)\" y1=\"\(ly - 4)\" y2=\"\(ly - 4)\" stroke=\"\(color)\" stroke-width=\"2\" stroke-dasharray=\"\(dashes[name]!)\"/>"
                svg += "<text x=\"\(width - right + 38)\" y=\"\(ly)\">\(escape(report.setup.label)) \(name)</text>"
                legend += 1
            }
        }
        return svg + "</svg><p>Points circled in black failed (loss or p99 over the limit).</p>"
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
