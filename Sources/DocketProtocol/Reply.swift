/// What the daemon answers to one request, before it is encoded as a line.
public enum Reply: Sendable {
    case pong
    case hello(ServerInfo)
    /// `progress`, `complete`, `fail`, `cancel`, `retry`.
    case job(Job)
    case enqueued(Job, created: Bool)
    /// A batch `enqueue`: each job with whether it was created, in request order.
    case enqueuedMany([(job: Job, created: Bool)])
    /// `nil` when no job became eligible within `wait_ms` (or the daemon is draining).
    case claimed(Job?)
    /// A claim that found no job because a queue's limit held it back, with when the rate
    /// window next lets one through.
    case claimHeld(retryAfterMs: Int64)
    case found(Job, events: [JobEvent]?)
    /// `get` with `events` and `logs`: how many bytes of the oldest log were dropped too.
    case foundWithLog(Job, events: [JobEvent], logDroppedBytes: Int64)
    case listed([Job], next: Int64?)
    case stats(Statistics)
    /// The answer to `watch`: the latest event seq; event lines follow.
    case watching(seq: Int64)
    case schedule(Schedule)
    case schedules([Schedule])
    case queue(QueueInfo)
    case queues([QueueInfo])
    /// `schedule_delete`: nothing else to say.
    case done
    case purged(Int64)
    /// `backup`: where the copy is and how big.
    case backedUp(path: String, bytes: Int64)
    /// `metrics`: the Prometheus text exposition.
    case metrics(String)
    case failure(ProtocolError)
}

public struct ServerInfo: Sendable, Equatable {
    public var name: String
    public var version: String
    public var limits: Limits
    /// The store backend: `sqlite` or `postgresql`.
    public var store: String

    public init(name: String = "docketd", version: String, limits: Limits, store: String = "sqlite") {
        self.name = name
        self.version = version
        self.limits = limits
        self.store = store
    }
}

public struct Statistics: Sendable, Equatable {
    /// Job counts by queue, then by state; states with no jobs are left out.
    public var queues: [(queue: String, counts: [(state: JobState, count: Int64)])]
    public var connections: Int
    public var waitingClaims: Int
    public var uptimeMs: Int64

    public init(
        queues: [(queue: String, counts: [(state: JobState, count: Int64)])], connections: Int, waitingClaims: Int,
        uptimeMs: Int64
    ) {
        self.queues = queues
        self.connections = connections
        self.waitingClaims = waitingClaims
        self.uptimeMs = uptimeMs
    }

    public static func == (lhs: Statistics, rhs: Statistics) -> Bool {
        lhs.connections == rhs.connections && lhs.waitingClaims == rhs.waitingClaims && lhs.uptimeMs == rhs.uptimeMs
            && lhs.queues.count == rhs.queues.count
            && zip(lhs.queues, rhs.queues).allSatisfy {
                $0.queue == $1.queue && $0.counts.map(\.state) == $1.counts.map(\.state)
                    && $0.counts.map(\.count) == $1.counts.map(\.count)
            }
    }
}

extension Reply: Equatable {
    public static func == (lhs: Reply, rhs: Reply) -> Bool {
        switch (lhs, rhs) {
        case (.pong, .pong), (.done, .done): return true
        case (.hello(let a), .hello(let b)): return a == b
        case (.job(let a), .job(let b)): return a == b
        case (.enqueued(let a, let x), .enqueued(let b, let y)): return a == b && x == y
        case (.enqueuedMany(let a), .enqueuedMany(let b)):
            return a.map(\.job) == b.map(\.job) && a.map(\.created) == b.map(\.created)
        case (.claimed(let a), .claimed(let b)): return a == b
        case (.claimHeld(let a), .claimHeld(let b)): return a == b
        case (.queue(let a), .queue(let b)): return a == b
        case (.queues(let a), .queues(let b)): return a == b
        case (.found(let a, let x), .found(let b, let y)): return a == b && x == y
        case (.foundWithLog(let a, let x, let n), .foundWithLog(let b, let y, let m)): return a == b && x == y && n == m
        case (.listed(let a, let x), .listed(let b, let y)): return a == b && x == y
        case (.stats(let a), .stats(let b)): return a == b
        case (.watching(let a), .watching(let b)): return a == b
        case (.purged(let a), .purged(let b)): return a == b
        case (.metrics(let a), .metrics(let b)): return a == b
        case (.backedUp(let a, let x), .backedUp(let b, let y)): return a == b && x == y
        case (.schedule(let a), .schedule(let b)): return a == b
        case (.schedules(let a), .schedules(let b)): return a == b
        case (.failure(let a), .failure(let b)): return a == b
        default: return false
        }
    }
}
