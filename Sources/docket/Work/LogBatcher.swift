import DocketProtocol
import Synchronization

/// Gathers a command's output for the job's log. The pump adds what it reads; the job's
/// sender takes it when it is ready to send, in batches of whole lines, so a chatty command
/// makes a few requests a second rather than one per line and never queues more requests
/// than the daemon answers: lease renewals, which go through the same sender, keep their
/// turn. What waits is capped at the 1 MiB the daemon keeps anyway; older output is dropped
/// first, and the log says so.
final class LogBatcher: Sendable {
    static let maxBatchBytes = 64 * 1024
    static let interval = Duration.milliseconds(200)
    static let maxPendingBytes = Int(LogRequest.maxBytesPerJob)

    private struct Pending {
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        var dropped = 0
        /// Whether the sender has been told there is output, and has not taken it yet.
        var announced = false
    }

    private let pending = Mutex(Pending())
    /// Tells the sender there is output to take.
    private let announce: @Sendable () -> Void

    init(announce: @escaping @Sendable () -> Void) {
        self.announce = announce
    }

    /// Bytes the command wrote; called from the pump's thread.
    func add(_ bytes: ArraySlice<UInt8>, from stream: LogStream) {
        let announcing = pending.withLock { pending -> Bool in
            var buffer = stream == .stdout ? pending.stdout : pending.stderr
            buffer += bytes
            if buffer.count > Self.maxPendingBytes {
                let excess = buffer.count - Self.maxPendingBytes
                buffer.removeFirst(excess)
                pending.dropped += excess
            }
            if stream == .stdout { pending.stdout = buffer } else { pending.stderr = buffer }
            guard !pending.announced, buffer.count >= Self.maxBatchBytes else { return false }
            pending.announced = true
            return true
        }
        if announcing { announce() }
    }

    /// Called every `interval`: a quiet command's lines go out too.
    func tick() {
        let announcing = pending.withLock { pending -> Bool in
            guard !pending.announced, !pending.stdout.isEmpty || !pending.stderr.isEmpty else { return false }
            pending.announced = true
            return true
        }
        if announcing { announce() }
    }

    /// Batches a sender's turn takes at most, so a renewal queued behind them waits for
    /// no more than a few requests.
    static let batchesPerTurn = 4

    /// The batches to send in this turn: whole lines only, at most `batchesPerTurn` (when more
    /// is left the sender is told again, after whatever queued meanwhile); or, once the
    /// command has ended (`everything`), all that is left.
    func take(everything: Bool) -> [(LogStream, String)] {
        let (batches, more) = pending.withLock { pending -> ([(LogStream, String)], Bool) in
            pending.announced = false
            var batches: [(LogStream, String)] = []
            if pending.dropped > 0 {
                batches.append((.stderr, "[docket work: \(pending.dropped) bytes of output dropped: the command wrote faster than they could be sent]\n"))
                pending.dropped = 0
            }
            for stream in LogStream.allCases {
                var buffer = stream == .stdout ? pending.stdout : pending.stderr
                while !buffer.isEmpty, everything || batches.count < Self.batchesPerTurn {
                    var end = min(buffer.count, Self.maxBatchBytes)
                    if let newline = buffer[..<end].lastIndex(of: UInt8(ascii: "\n")) {
                        end = newline + 1
                    } else if !everything && buffer.count < Self.maxBatchBytes {
                        break  // a line still being written, with room to wait for its end
                    }
                    batches.append((stream, String(decoding: buffer[..<end], as: UTF8.self)))
                    buffer.removeFirst(end)
                }
                if stream == .stdout { pending.stdout = buffer } else { pending.stderr = buffer }
            }
            let more = !everything && (!pending.stdout.isEmpty || !pending.stderr.isEmpty) && batches.count == Self.batchesPerTurn
            if more { pending.announced = true }
            return (batches, more)
        }
        if more { announce() }
        return batches
    }
}
