import DocketStore
import NIOConcurrencyHelpers
import NIOCore

extension ServerContext {
    /// The exposition, on the reader thread that holds `reader`: the store's figures are a read.
    func metricsText(_ reader: any JobReader) throws(StoreError) -> String {
        let store = try DocketMetrics.StoreFigures.read(reader)
        return metrics.exposition(store, connections: connectionCount, waitingClaims: writer.waitingClaims, now: clock.now())
    }
}

/// Scrapes over HTTP: each is a read on the reader pool, and scrapes that arrive while one is
/// being read share its answer, so however many scrapers there are they take at most one
/// reader thread at a time from the job socket's `get`, `list` and `stats`.
final class MetricsScrapes: Sendable {
    private let context: ServerContext
    private let inFlight = NIOLockedValueBox<EventLoopFuture<String>?>(nil)

    init(context: ServerContext) {
        self.context = context
    }

    func text(on eventLoop: any EventLoop) -> EventLoopFuture<String> {
        let context = self.context
        let (future, started) = inFlight.withLockedValue { current -> (EventLoopFuture<String>, Bool) in
            if let current { return (current, false) }
            let future = context.readers.run(on: eventLoop) { reader throws(StoreError) in try context.metricsText(reader) }
            current = future
            return (future, true)
        }
        if started { future.whenComplete { [inFlight] _ in inFlight.withLockedValue { $0 = nil } } }
        return future.hop(to: eventLoop)
    }
}
