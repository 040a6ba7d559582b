import DocketProtocol

/// A commit that has been sent: its events once it is known to have committed.
///
/// On SQLite a commit is settled when `commit` returns. On PostgreSQL the writer sends the
/// COMMIT and goes on to the next batch; the flusher thread waits for the COMMIT's answer
/// before anyone hears of the batch.
public struct CommitReceipt: Sendable {
    private let wait: @Sendable () throws(StoreError) -> [JobEvent]

    /// A commit that has already happened.
    public static func settled(_ events: [JobEvent]) -> CommitReceipt {
        CommitReceipt { () throws(StoreError) in events }
    }

    /// `wait` blocks until the commit's fate is known; it runs on another thread than the
    /// writer's, so it must touch nothing the writer owns.
    init(wait: @escaping @Sendable () throws(StoreError) -> [JobEvent]) {
        self.wait = wait
    }

    /// The committed events, in `seq` order, or why the transaction may not stand (`inDoubt`,
    /// or a failure that rolled it back).
    public func settle() throws(StoreError) -> [JobEvent] {
        try wait()
    }
}
