import Foundation

/// Renders a ``RunReport`` as the plain-text table `swarm` prints at the end of a run.
public enum ReportTable {
    public static func render(_ report: RunReport) -> String {
        var lines: [String] = []
        let setup = report.setup
        lines.append("swarm \(setup.label): \(setup.connections) connections over \(setup.accounts) accounts × \(setup.usersPerAccount) users (\(setup.dialect)), publish: \(setup.publish)")
        let c = report.connect
        lines.append(
            "connect: \(c.established)/\(setup.connections) established, \(c.failures) failed attempts, \(fmt(c.rampSeconds)) s ramp (\(fmt(c.perSecond))/s), connect time p50 \(fmt(c.time.p50)) ms p99 \(fmt(c.time.p99)) ms max \(fmt(c.time.max)) ms")
        lines.append("reconnects \(report.reconnects), drops \(report.drops), connected at end \(report.connectedAtEnd), run \(fmt(report.seconds)) s\(report.hitDurationCap ? " (duration cap hit)" : "")")
        if !report.connectionsPerNode.isEmpty {
            lines.append("per node: " + report.connectionsPerNode.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        }
        for outage in report.outages {
            lines.append("outage at \(fmt(outage.startedAt)) s: down to \(outage.lowestConnected), recovered in \(outage.recoverySeconds.map { "\(fmt($0)) s" } ?? "— (not within the run)")")
        }
        for server in report.servers {
            lines.append("server pid \(server.pid): RSS \(server.rssKiB) KiB" + (server.openDescriptors.map { ", \($0) open descriptors" } ?? ""))
        }
        if let activity = report.activity, activity != .init(churned: 0, resumes: 0, typingSent: 0, presenceSent: 0, messagesSkipped: 0, frames: FrameCounts()) {
            let f = activity.frames
            lines.append(
                "churned \(activity.churned), resumes \(activity.resumes) (recovered \(f.recovered), replayed \(f.replayed) events, gaps \(f.gaps)), "
                    + "typing sent \(activity.typingSent) (typing events received \(f.typingEvents)), presence.get \(activity.presenceSent) "
                    + "(presence.state \(f.presenceStates)), skipped \(activity.messagesSkipped), errors \(f.errors) (rate_limited \(f.rateLimited))")
            if !f.gapReasons.isEmpty || !f.errorCodes.isEmpty {
                let describe = { (counts: [String: Int]) in counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") }
                lines.append("gaps by reason: \(describe(f.gapReasons)); errors by code: \(describe(f.errorCodes))")
            }
        }
        if let samples = report.samples, !samples.isEmpty {
            let header = ["sample", "s", "RSS KiB", "fds", "conn", "churned", "resumes", "gaps", "published", "delivered", "dup"]
            var rows = [header]
            for sample in samples {
                rows.append([
                    sample.label, fmt(sample.seconds), sample.servers.map { "\($0.rssKiB)" }.joined(separator: "/"),
                    sample.servers.map { $0.openDescriptors.map(String.init) ?? "?" }.joined(separator: "/"), "\(sample.connected)",
                    "\(sample.churned)", "\(sample.resumes)", "\(sample.gaps)", "\(sample.published)", "\(sample.delivered)", "\(sample.duplicates)",
                ])
            }
            let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
            for row in rows {
                lines.append(row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  "))
            }
        }
        if !report.steps.isEmpty {
            let header = ["step", "target/s", "events/s", "deliv/s", "expected", "lost", "dup", "reord", "gaps", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "pub fail", "result"]
            var rows = [header]
            for step in report.steps {
                rows.append([
                    "\(step.index)", step.targetDeliveriesPerSecond.map { fmt($0) } ?? "-", fmt(step.eventsPerSecond),
                    fmt(step.deliveriesPerSecond), "\(step.expected)", "\(step.lost)", "\(step.duplicates)", "\(step.reordered)",
                    "\(step.gaps ?? 0)",
                    fmt(step.latency.p50), fmt(step.latency.p90), fmt(step.latency.p99), fmt(step.latency.p999), fmt(step.latency.max),
                    "\(step.publishFailures + step.publishSkipped)", step.stopReason ?? "ok",
                ])
            }
            let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
            for row in rows {
                lines.append(row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  "))
            }
            for step in report.steps {
                for server in step.servers {
                    var line = "step \(step.index) server pid \(server.pid): RSS \(server.rssKiB) KiB, CPU \(fmt(server.cpuPercent)) %"
                    if let perDelivery = server.microsecondsPerDelivery { line += ", \(fmt(perDelivery)) µs/delivery" }
                    if let perPublish = server.microsecondsPerPublish { line += ", \(fmt(perPublish)) µs/publish" }
                    lines.append(line)
                }
                if let swarm = step.swarm {
                    lines.append(
                        "step \(step.index) swarm: CPU \(fmt(swarm.cpuPercent)) %"
                            + (swarm.microsecondsPerReceivedEvent.map { ", \(fmt($0)) µs per received event" } ?? ""))
                }
            }
        }
        return lines.joined(separator: "\n")
    }

    static func fmt(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(format: "%.2f", value)
    }
}
