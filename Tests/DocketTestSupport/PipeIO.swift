import Foundation

/// Reads and writes pipes to and from the processes the tests start.
///
/// Foundation's `FileHandle.write(_:)` traps when a signal interrupts the call (EINTR), and
/// a CI run here died of exactly that while another test's child exited. These calls retry
/// an interrupted read or write, so a signal aimed elsewhere never fails a test.
public enum PipeIO {
    /// Writes all of `text`, then closes the handle so the reader sees the end. A reader that
    /// has already gone (a command that failed before reading its input) is not an error.
    public static func writeAndClose(_ text: String, to handle: FileHandle) throws {
        _ = ignoresBrokenPipes
        let descriptor = handle.fileDescriptor
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                if errno == EPIPE { break }
                throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
            }
            bytes = bytes.dropFirst(written)
        }
        try handle.close()
    }

    /// A write to a pipe whose reader has gone then fails with EPIPE instead of killing the
    /// whole test run with SIGPIPE.
    private static let ignoresBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN) }()

    /// Reads until the writer closes its end.
    public static func readToEnd(_ handle: FileHandle) -> String {
        let descriptor = handle.fileDescriptor
        var collected: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count > 0 {
                collected += chunk[..<count]
            } else if count == 0 || errno != EINTR {
                return String(decoding: collected, as: UTF8.self)
            }
        }
    }
}
