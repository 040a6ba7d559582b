import DocketProtocol
import Synchronization

/// Gathers a command's output into log batches: whole lines, at most `maxBatchBytes` each,
/// sent at least every `interval`, so a chatty command makes a few requests a second rather
/// than one per line, and a quiet one's lines still show up within that interval.
final class LogBatcher: Sendable {
    static let maxBatchBytes = 64 * 1024
    static let interval = Duration.milliseconds(200)

    private struct Pending {
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
    }

    private let pending = Mutex(Pending())
    private let send: @Sendable (LogStream, String) -> Void

    init(send: @escaping @Sendable (LogStream, String) -> Void) {
        self.send = send
    }

    /// Bytes the command wrote; called from the pump's thread.
    func add(_ bytes: ArraySlice<UInt8>, from stream: LogStream) {
        let full = pending.withLock { pending -> [UInt8]? in
            let size = Self.append(bytes, to: &pending, stream)
            guard size >= Self.maxBatchBytes else { return nil }
            return Self.take(&pending, stream, wholeLinesOnly: true)
        }
        if let full { send(stream, String(decoding: full, as: UTF8.self)) }
    }

    /// Sends what has gathered: whole lines only, unless `everything` (the command ended, or
    /// a line has waited a whole interval without its end).
    func flush(everything: Bool) {
        let batches = pending.withLock { pending in
            LogStream.allCases.map { ($0, Self.take(&pending, $0, wholeLinesOnly: !everything)) }
        }
        for (stream, bytes) in batches where !bytes.isEmpty { send(stream, String(decoding: bytes, as: UTF8.self)) }
    }

    private static func append(_ bytes: ArraySlice<UInt8>, to pending: inout Pending, _ stream: LogStream) -> Int {
        switch stream {
        case .stdout:
            pending.stdout += bytes
            return pending.stdout.count
        case .stderr:
            pending.stderr += bytes
            return pending.stderr.count
        }
    }

    /// Up to the last line end (or everything), at most `maxBatchBytes`.
    private static func take(_ pending: inout Pending, _ stream: LogStream, wholeLinesOnly: Bool) -> [UInt8] {
        var buffer = stream == .stdout ? pending.stdout : pending.stderr
        var end = min(buffer.count, maxBatchBytes)
        if wholeLinesOnly, let newline = buffer[..<end].lastIndex(of: UInt8(ascii: "\n")) {
            end = newline + 1
        } else if wholeLinesOnly, buffer.count < maxBatchBytes {
            end = 0  // a line still being written, and room to wait for its end
        }
        let batch = Array(buffer[..<end])
        buffer.removeFirst(end)
        if stream == .stdout { pending.stdout = buffer } else { pending.stderr = buffer }
        return batch
    }
}
