import Foundation
import Synchronization

/// A Unix socket server that dies on each request the first time it sees it: it closes the
/// connection without an answer. Sent again, the request is answered `not_found`. So a
/// client that resends shows it by getting an answer; one that does not, by an error.
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
                Self.serve(connection, log)
                close(connection)
            }
        }
    }

    deinit {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        unlink(path)
    }

    private static func serve(_ connection: Int32, _ log: RequestLog) {
        while true {
            var line: [UInt8] = []
            var byte: UInt8 = 0
            while read(connection, &byte, 1) == 1, byte != UInt8(ascii: "\n") { line.append(byte) }
            guard !line.isEmpty else { return }
            let text = String(decoding: line, as: UTF8.self)
            let seen = log.lines.withLock { lines in
                defer { lines.append(text) }
                return lines.contains(text)
            }
            guard seen else { return }
            let answer = Array(#"{"ok":false,"error":{"code":"not_found","message":"answered the second time"}}"#.utf8) + [10]
            _ = answer.withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
        }
    }
}
