import Foundation

/// The service manager's end of `sd_notify`: a datagram socket the test binds and passes to
/// docketd as `NOTIFY_SOCKET`, recording every `KEY=value` line with the time it arrived.
final class NotifySocket: @unchecked Sendable {
    struct Message {
        let at: ContinuousClock.Instant
        let line: String
    }

    let path: String
    private let fd: Int32
    private let lock = NSLock()
    private var received: [Message] = []
    private var open = true
    private let finished = DispatchSemaphore(value: 0)

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket(AF_UNIX, SOCK_DGRAM) failed: errno \(errno)") }
        // A short receive timeout lets the reading thread notice `close()`.
        var timeout = timeval(tv_sec: 0, tv_usec: 50_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = try UnixAddress(path)
        let rc = address.withSockaddr { bind(fd, $0, $1) }
        // docketd may run as another user in the access tests; it must still reach us.
        guard rc == 0, chmod(path, 0o666) == 0 else {
            Glibc.close(fd)
            throw TestFailure("bind(\(path)) failed: errno \(errno)")
        }
        Thread.detachNewThread { [self] in receive() }
    }

    deinit {
        close()
    }

    func close() {
        let wasOpen = lock.withLock {
            defer { open = false }
            return open
        }
        guard wasOpen else { return }
        finished.wait()
        Glibc.close(fd)
        unlink(path)
    }

    private func receive() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while lock.withLock({ open }) {
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { continue }
            let now = ContinuousClock.now
            let lines = String(decoding: buffer[..<count], as: UTF8.self).split(separator: "\n")
            lock.withLock { received += lines.map { Message(at: now, line: String($0)) } }
        }
        finished.signal()
    }

    var messages: [Message] { lock.withLock { received } }

    /// Lines that start with `prefix` (`"WATCHDOG=1"`, `"STATUS="`), oldest first.
    func lines(startingWith prefix: String) -> [Message] {
        messages.filter { $0.line.hasPrefix(prefix) }
    }

    /// How many times `line` arrived within `window`.
    func count(_ line: String, in window: ClosedRange<ContinuousClock.Instant>) -> Int {
        messages.filter { $0.line == line && window.contains($0.at) }.count
    }

    /// Waits for the first line that satisfies `matches`.
    @discardableResult
    func waitFor(timeout: Duration = .seconds(20), _ description: String, _ matches: (String) -> Bool) async throws
        -> Message
    {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let message = messages.first(where: { matches($0.line) }) { return message }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestFailure("no \(description) within \(timeout); received: \(messages.map(\.line))")
    }

    func waitFor(timeout: Duration = .seconds(20), line: String) async throws -> Message {
        try await waitFor(timeout: timeout, line) { $0 == line }
    }
}

/// A `sockaddr_un` for a path (at most 107 bytes).
struct UnixAddress {
    private var storage = sockaddr_un()

    init(_ path: String) throws {
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: storage.sun_path) else {
            throw TestFailure("socket path too long: \(path)")
        }
        storage.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &storage.sun_path) { $0.copyBytes(from: bytes) }
    }

    mutating func withSockaddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }
}

/// Connects, sends `text` and returns the descriptor without reading: for a request whose
/// answer will never come.
func connectAndSend(_ text: String, to path: String) throws -> Int32 {
    var address = try UnixAddress(path)
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0, address.withSockaddr({ connect(fd, $0, $1) }) == 0,
        send(fd, text, text.utf8.count, Int32(MSG_NOSIGNAL)) == text.utf8.count
    else {
        close(fd)
        throw TestFailure("cannot send to \(path): errno \(errno)")
    }
    return fd
}

/// One datagram to a datagram socket at `path`.
func sendDatagram(_ text: String, to path: String) throws {
    var address = try UnixAddress(path)
    let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
    defer { close(fd) }
    let sent = address.withSockaddr { sendto(fd, text, text.utf8.count, 0, $0, $1) }
    guard sent == text.utf8.count else { throw TestFailure("sendto(\(path)) failed: errno \(errno)") }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
