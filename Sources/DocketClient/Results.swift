import DocketProtocol

/// What `enqueue` answers.
public struct EnqueueResult: Sendable, Equatable {
    public var job: Job
    /// `false` when the `unique_key` matched a stored job of the queue, which is returned instead.
    public var created: Bool
}

/// One page of `list`.
public struct JobPage: Sendable, Equatable {
    /// In ascending id order.
    public var jobs: [Job]
    /// The `after` for the next page, or `nil` when this was the last one.
    public var next: Int64?
}

/// A job with every event recorded for it, oldest first.
public struct JobHistory: Sendable, Equatable {
    public var job: Job
    public var events: [JobEvent]
}

/// The retry delays of a job after `fail`: `min(max, initial * 2^(attempt-1))`, ±10% jitter.
public struct Backoff: Sendable, Equatable {
    public var initial: Duration
    public var max: Duration?

    public init(initial: Duration, max: Duration? = nil) {
        self.initial = initial
        self.max = max
    }
}
