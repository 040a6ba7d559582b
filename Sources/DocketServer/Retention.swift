import DocketProtocol

/// How long finished jobs (and their events) are kept before they are deleted.
///
/// Completed and cancelled jobs go after their period (default 7 days); failed jobs are kept
/// until retried or purged unless a period is set for them too.
public struct Retention: Sendable, Equatable {
    /// Milliseconds to keep jobs in each finished state; a state not listed is kept forever.
    public var periods: [(state: JobState, milliseconds: Int64)]

    /// Jobs deleted per state per writer batch: small enough never to stall the writer.
    static let batchSize = 200
    /// How long past its period a finished job may stay. Under steady traffic some job
    /// reaches its period every few milliseconds; without this slack the due work (five
    /// statements, on PostgreSQL each a round trip) would run with every batch. With it,
    /// pruning runs about once a second and takes what came due meanwhile.
    public static let slackMs: Int64 = 1000

    /// When a job that finished at `changedAt` is due to be pruned under `period`.
    static func pruneDue(changedAt: Int64, period: Int64) -> Int64 { changedAt + period + slackMs }
    /// Free pages returned to the file system after a batch that deleted jobs.
    static let reclaimPages = 256

    public static let week: Int64 = 7 * 86_400_000

    public init(periods: [(state: JobState, milliseconds: Int64)] = [(.completed, week), (.cancelled, week)]) {
        self.periods = periods
    }

    public static func == (lhs: Retention, rhs: Retention) -> Bool {
        lhs.periods.map(\.state) == rhs.periods.map(\.state) && lhs.periods.map(\.milliseconds) == rhs.periods.map(\.milliseconds)
    }
}
