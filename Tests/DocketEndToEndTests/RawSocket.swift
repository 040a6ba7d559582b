import Foundation

/// A plain Unix socket, for sending bytes no well-behaved client would send.
///
/// The socket itself blocks, so every call runs on a queue of its own: a blocked `recv` on
/// Swift's cooperative pool would starve the tests' other tasks (and the clients they drive).
final class RawSocket: @unchecked Sendable {
    private let queue = DispatchQueue(label: "raw-socket")
    let fd: Int32

    init(path: String, timeoutSeconds: Int = 10) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw DaemonFailure("socket() failed") }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw DaemonFailure("connect(\(path)) failed: errno \(errno)")
        }
    }

    deinit { close(fd) }

    private var pending: [UInt8] = []

    func send(_ bytes: [UInt8]) async throws {
        try await offload { try self.sendBlocking(bytes) }
    }

    func send(_ text: String) async throws { try await send(Array(text.utf8)) }

    /// Sends `lines` one by one, `gapMicroseconds` apart, timed on the socket's own queue, so a
    /// cooperative pool kept busy by other tests cannot bunch them up or spread them out.
    func send(lines: [String], gapMicroseconds: UInt32) async throws {
        try await offload {
            for line in lines {
                try self.sendBlocking(Array((line + "\n").utf8))
                usleep(gapMicroseconds)
            }
        }
    }

    /// The next line, or `nil` when the daemon closed the connection.
    func readLine() async throws -> String? {
        try await offload { try self.readLineBlocking() }
    }

    /// Reads a line and parses it as a JSON object.
    func readJSON() async throws -> [String: Any] {
        guard let line = try await readLine() else { throw DaemonFailure("connection closed") }
        guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw DaemonFailure("not an object: \(line)")
        }
        return object
    }

    private func offload<T>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }

    private func sendBlocking(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { throw DaemonFailure("send failed: errno \(errno)") }
            offset += written
        }
    }

    /// Closes the sending half only, as `socat -` and `nc -N` do at the end of their input.
    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    private func readLineBlocking() throws -> String? {
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = recv(fd, &chunk, chunk.count, 0)
            if count == 0 { return nil }
            guard count > 0 else { throw DaemonFailure("recv failed or timed out: errno \(errno)") }
            pending += chunk[..<count]
        }
    }

}
