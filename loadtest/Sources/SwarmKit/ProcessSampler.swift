import Foundation

/// One reading of a server process from `/proc/<pid>/status` and `/proc/<pid>/stat`.
public struct ProcessSample: Sendable, Codable, Equatable {
    public var pid: Int32
    /// Resident set size, KiB (`VmRSS`).
    public var rssKiB: Int
    /// User plus system CPU time so far, in seconds.
    public var cpuSeconds: Double
    /// Monotonic time of the reading, nanoseconds.
    public var takenAtNanoseconds: UInt64
    /// Open file descriptors (entries of `/proc/<pid>/fd`); nil when they could not be read.
    public var openDescriptors: Int?

    /// CPU use between `earlier` and this sample, in percent of one core.
    public func cpuPercent(since earlier: ProcessSample) -> Double {
        let wall = Double(takenAtNanoseconds &- earlier.takenAtNanoseconds) / 1e9
        guard wall > 0 else { return 0 }
        return ((cpuSeconds - earlier.cpuSeconds) / wall * 1000).rounded() / 10
    }
}

/// Reads RSS and CPU time of the server processes named with `--pid` (Linux only; elsewhere, and
/// for a process that is gone, there is no sample).
public struct ProcessSampler: Sendable {
    public let pids: [Int32]
    private let ticksPerSecond: Double

    public init(pids: [Int32]) {
        self.pids = pids
        let ticks = sysconf(Int32(_SC_CLK_TCK))
        self.ticksPerSecond = ticks > 0 ? Double(ticks) : 100
    }

    /// One sample per live process.
    public func sample() -> [ProcessSample] {
        pids.compactMap(sample(pid:))
    }

    /// A sample of one process, or nil.
    public func sample(pid: Int32) -> ProcessSample? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        else { return nil }
        var sample = Self.parse(pid: pid, status: status, stat: stat, ticksPerSecond: ticksPerSecond, now: DispatchTime.now().uptimeNanoseconds)
        sample?.openDescriptors = Self.openDescriptors(pid: pid)
        return sample
    }

    /// How many descriptors `pid` has open: the entries of `/proc/<pid>/fd` (readable for our
    /// own user's processes), or nil.
    public static func openDescriptors(pid: Int32) -> Int? {
        guard let directory = opendir("/proc/\(pid)/fd") else { return nil }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix(3)) }
            if name.first == UInt8(ascii: ".") && (name[1] == 0 || (name[1] == UInt8(ascii: ".") && name[2] == 0)) { continue }
            count += 1
        }
        return count
    }

    /// Parses the two files' text (separate so tests need no process).
    public static func parse(pid: Int32, status: String, stat: String, ticksPerSecond: Double, now: UInt64) -> ProcessSample? {
        var rss: Int?
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            rss = Int(line.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
        }
        // Fields after the parenthesised command (which may hold spaces): state is field 3,
        // utime and stime are fields 14 and 15.
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return nil }
        return ProcessSample(pid: pid, rssKiB: rss ?? 0, cpuSeconds: (utime + stime) / ticksPerSecond, takenAtNanoseconds: now)
    }
}
