#if canImport(Darwin)
import Darwin
#else
import Glibc
#endif

/// Free TCP ports on 127.0.0.1 for test servers that cannot bind port 0 themselves.
public enum LoopbackPort {
    /// An error from the socket calls, with the errno.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Binds port 0 on 127.0.0.1 to let the kernel pick a free port, then releases it.
    public static func free() throws -> Int {
        #if canImport(Darwin)
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #else
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #endif
        guard fd >= 0 else { throw Failure(description: "socket() failed: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = in_addr_t(UInt32(0x7F00_0001).bigEndian)
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard named else { throw Failure(description: "bind/getsockname on 127.0.0.1:0 failed: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
