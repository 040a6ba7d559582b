/// Every limit the daemon enforces, in one place; `hello` reports the ones clients need.
public struct Limits: Sendable, Equatable {
    /// The longest request line accepted, without its terminator.
    public var maxLineBytes: Int = 1 << 20
    /// The longest lease a claim or progress may ask for (1 day).
    public var maxLeaseMs: Int64 = 86_400_000
    /// The longest a claim may wait for a job (15 minutes).
    public var maxWaitMs: Int64 = 900_000
    /// The furthest into the future a job may be delayed (10 years).
    public var maxDelayMs: Int64 = 315_360_000_000
    /// The most dependencies one job may have (`after` and `after_index` together).
    public var maxDependencies: Int = 1000
    /// The longest `timeout_ms` one attempt may be given (7 days).
    public var maxTimeoutMs: Int64 = 604_800_000
    /// The most attempts a job may be given.
    public var maxAttempts: Int64 = 1000
    /// The most jobs one `list` returns.
    public var maxListLimit: Int64 = 1000
    /// Queue names, worker names and unique keys, in bytes of UTF-8.
    public var maxNameBytes: Int = 255
    /// How many queues one claim may name.
    public var maxClaimQueues: Int = 64
    /// How many jobs one `enqueue` may carry in its `jobs` array.
    public var maxBatchJobs: Int = 1000
    /// The most jobs one `purge` deletes.
    public var maxPurge: Int64 = 10_000

    public static let standard = Limits()

    public init() {}
}

/// Defaults the contract fixes.
public enum Defaults {
    public static let maxAttempts: Int64 = 3
    public static let backoffInitialMs: Int64 = 1000
    public static let backoffMaxMs: Int64 = 3_600_000
    public static let leaseMs: Int64 = 30_000
    public static let listLimit: Int64 = 100
}
