#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How the process's file descriptors are shared out: most for sessions, the rest kept free so
/// health checks, metrics and Redis connections still get one when the node is full.
public struct DescriptorBudget: Sendable, Equatable {
    /// The process's descriptor limit (soft).
    let limit: Int
    /// Descriptors never given to sessions: a quarter of the limit, at most 1024.
    var reserve: Int { min(1024, limit / 4) }
    /// Sessions the descriptors allow.
    var sessions: Int { max(16, limit - reserve) }
    /// Open TCP connections of any kind (sessions, HTTP requests) accepted before new ones are
    /// closed at once: half the reserve stays free for Redis and the process itself.
    func connectionCap(maxSessions: Int) -> Int { maxSessions + reserve / 2 }

    /// The current process's budget.
    static func current() -> DescriptorBudget {
        var limits = rlimit()
        guard getrlimit(resource, &limits) == 0 else { return DescriptorBudget(limit: 1024) }
        return DescriptorBudget(limit: limits.rlim_cur > rlim_t(Int32.max) ? Int(Int32.max) : Int(limits.rlim_cur))
    }

    /// Raises the soft descriptor limit to the hard one (what an operator allowed), once at start-up.
    public static func raiseToHardLimit() {
        var limits = rlimit()
        guard getrlimit(resource, &limits) == 0, limits.rlim_cur < limits.rlim_max else { return }
        limits.rlim_cur = limits.rlim_max
        _ = setrlimit(resource, &limits)
    }

    #if canImport(Glibc)
    private static let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    private static let resource = RLIMIT_NOFILE
    #endif
}
