import CSystemd
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// The service manager's side of the daemon, through libsystemd: inherited sockets, state
/// notifications and the watchdog. Every call is harmless when systemd did not start us.
public enum Systemd {
    /// A listening socket systemd (or `systemd-socket-activate`) passed in.
    public struct InheritedSocket: Sendable, Equatable {
        public var descriptor: Int32
        /// `FileDescriptorName=` of the socket unit (`--fdname=`); systemd's default is the unit name.
        public var name: String
    }

    public struct ActivationError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The sockets passed with `LISTEN_FDS`, each checked to be a listening Unix stream
    /// socket. Empty when the daemon was started by hand.
    public static func inheritedSockets() throws(ActivationError) -> [InheritedSocket] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let count = sd_listen_fds_with_names(1, &names)
        guard count >= 0 else {
            throw ActivationError(description: "cannot read the sockets systemd passed (LISTEN_FDS): \(String(cString: strerror(-count)))")
        }
        defer {
            if let names {
                for index in 0..<Int(count) { free(names[index]) }
                free(names)
            }
        }
        var sockets: [InheritedSocket] = []
        for index in 0..<Int(count) {
            let descriptor = Int32(3 + index)  // SD_LISTEN_FDS_START
            let name = names?[index].map { String(cString: $0) } ?? "unknown"
            guard sd_is_socket_unix(descriptor, Int32(SOCK_STREAM.rawValue), 1, nil, 0) > 0 else {
                throw ActivationError(
                    description: "inherited descriptor \(descriptor) (\(name)) is not a listening Unix stream socket; "
                        + "use ListenStream=/path in the socket unit")
            }
            sockets.append(InheritedSocket(descriptor: descriptor, name: name))
        }
        return sockets
    }

    /// Sends `KEY=value` lines such as `READY=1` or `STATUS=…`.
    public static func notify(_ state: String) {
        _ = sd_notify(0, state)
    }

    /// The watchdog period systemd expects (`WATCHDOG_USEC`), or `nil` when it is off.
    public static func watchdogInterval() -> TimeAmount? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(microseconds))
    }
}
