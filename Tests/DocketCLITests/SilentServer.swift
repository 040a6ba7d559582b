import Foundation
import Synchronization

/// A Unix socket server that reads one request per connection and closes it without an
/// answer: a daemon that dies mid-request, to see which requests a client sends again.
final class SilentServer: Sendable {
    let path: String
    private let listener: Int32
    private let log = RequestLog()

    /// Every request line received, in order.
    var received: [String] { log.lines.withLock { $0 } }

    private final class RequestLog: Sendable {
        let lines = Mutex<[String]>([])
    }

    init() throws {
        path = "/tmp/dkc-silent-\(getpid())-\(UUID().uuidString.prefix(8)).sock"
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(listener, 16) == 0 else { throw TestFailure("cannot listen on \(path): errno \(errno)") }
        let log = log
        Thread.detachNewThread {
            while true {
                let connection = accept(listener, nil, nil)
                guard connection >= 0 else { return }
                var line: [UInt8] = []
                var byte: UInt8 = 0
                while read(connection, &byte, 1) == 1, byte != UInt8(ascii: "\n") { line.append(byte) }
                log.lines.withLock { $0.append(String(decoding: line, as: UTF8.self)) }
                close(connection)
            }
        }
    }

    deinit {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        unlink(path)
    }
}
