#if canImport(Glibc)
import Glibc
#endif

/// An exclusive advisory lock held for the life of the process (`flock` on a lock file).
///
/// Guards the database and the socket path: a socket file can be unlinked and replaced by a
/// second daemon without the first noticing, a held lock cannot.
public final class FileLock: Sendable {
    public let path: String
    private let descriptor: Int32

    public struct Held: Error, CustomStringConvertible {
        public let description: String
    }

    public init(path: String, purpose: String) throws(Held) {
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw Held(description: "cannot open lock file \(path) for the \(purpose): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            close(fd)
            if reason == EWOULDBLOCK {
                throw Held(description: "another docketd is using the \(purpose) (\(path) is locked); stop it first or choose another path")
            }
            throw Held(description: "cannot lock \(path) for the \(purpose): \(String(cString: strerror(reason)))")
        }
        descriptor = fd
    }

    deinit { close(descriptor) }
}
