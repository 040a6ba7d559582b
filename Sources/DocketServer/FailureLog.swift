import DocketStore
import Logging
import Synchronization

/// Logs failed transactions (disk full, a read-only file, a lost database) at most every ten
/// seconds, with a count of the failures in between, so that a long outage stays readable.
/// The writer reports the batches that failed before their commit, the flusher the commits
/// that failed to settle.
final class FailureLog: Sendable {
    private struct Tally {
        var lastLogged: ContinuousClock.Instant?
        var unlogged = 0
    }

    private let tally = Mutex(Tally())
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    func report(_ failure: StoreError, requests: Int) {
        let now = ContinuousClock.now
        let unlogged = tally.withLock { tally -> Int? in
            tally.unlogged += 1
            guard tally.lastLogged.map({ now - $0 > .seconds(10) }) ?? true else { return nil }
            defer { tally = Tally(lastLogged: now, unlogged: 0) }
            return tally.unlogged
        }
        guard let unlogged else { return }
        let outcome =
            if case .inDoubt = failure {
                "may or may not have committed; its requests were answered 'in_doubt'"
            } else {
                "failed and was rolled back; its requests were answered '\(failure.protocolError.code.rawValue)'"
            }
        logger.error(
            "a transaction \(outcome)",
            metadata: [
                "error": "\(failure.protocolError.message)", "requests": "\(requests)",
                "failed_batches_since_last_report": "\(unlogged)",
            ])
    }
}
