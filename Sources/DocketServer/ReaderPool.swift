import DocketProtocol
import DocketStore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Runs read-only requests (`get`, `list`, `stats`) on their own threads and connections, so
/// they see the last commit and never queue behind the writer. An answer waits, if it must,
/// until what the read could have seen is on disk (see `Flusher`).
final class ReaderPool: Sendable {
    /// A reader connection; used by one thread at a time, handed over under the pool's lock.
    private final class Handle: @unchecked Sendable {
        let reader: any JobReader
        init(_ reader: any JobReader) { self.reader = reader }
    }

    private let threads: NIOThreadPool
    private let idle: NIOLockedValueBox<[Handle]>
    private let flusher: Flusher

    /// One thread per reader connection; the connections are opened by the caller up front.
    init(readers: [any JobReader], flusher: Flusher) {
        self.flusher = flusher
        threads = NIOThreadPool(numberOfThreads: readers.count)
        idle = NIOLockedValueBox(readers.map(Handle.init))
        threads.start()
    }

    /// Runs `body` with a reader connection on a reader thread; a `StoreError` fails the future.
    func run<Result: Sendable>(
        on eventLoop: any EventLoop, _ body: @escaping @Sendable (any JobReader) throws(StoreError) -> Result
    ) -> EventLoopFuture<Result> {
        flusher.onceDurable(
            threads.runIfActive(eventLoop: eventLoop) { [idle] in
                // There are as many connections as threads, so one is always free here.
                let handle = idle.withLockedValue { $0.removeLast() }
                defer { idle.withLockedValue { $0.append(handle) } }
                return try body(handle.reader)
            })
    }

    func shutdown() {
        try? threads.syncShutdownGracefully()
    }
}
