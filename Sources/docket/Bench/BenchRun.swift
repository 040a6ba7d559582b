import DocketClient
import DocketProtocol
import Histogram
import Synchronization

/// The producers and consumers of one `docket bench`, and what they measured.
struct BenchRun {
    enum Limit {
        case count(Int)
        case deadline(ContinuousClock.Instant)
    }

    let clients: [DocketClient]
    let producers: Int
    let consumers: Int
    let queue: String
    let payload: JSONValue
    let limit: Limit

    /// Round trips in microseconds, by op.
    struct Latencies: Sendable {
        var enqueue = Self.histogram()
        var claim = Self.histogram()
        var complete = Self.histogram()
        /// From enqueue sent to complete answered.
        var cycle = Self.histogram()

        static func histogram() -> Histogram<UInt64> {
            Histogram(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
        }

        mutating func add(_ other: Latencies) {
            enqueue.add(other.enqueue)
            claim.add(other.claim)
            complete.add(other.complete)
            cycle.add(other.cycle)
        }
    }

    struct Result {
        var cycles: Int
        var elapsed: Duration
        var latencies: Latencies
    }

    /// What producers and consumers share.
    private final class Progress: Sendable {
        struct Counts {
            var enqueued = 0
            var completed = 0
            var producersDone = 0
            /// When each job still in flight was enqueued, for the cycle latency.
            var started: [Int64: ContinuousClock.Instant] = [:]
        }
        let counts = Mutex(Counts())
    }

    func run() async throws -> Result {
        let progress = Progress()
        let start = ContinuousClock.now
        let latencies = try await withThrowingTaskGroup(of: Latencies.self) { group in
            for index in 0..<producers {
                let client = clients[index % clients.count]
                group.addTask { try await produce(client, progress) }
            }
            for index in 0..<consumers {
                let client = clients[(producers + index) % clients.count]
                group.addTask { try await consume(client, progress) }
            }
            var total = Latencies()
            for try await part in group { total.add(part) }
            return total
        }
        let cycles = progress.counts.withLock { $0.completed }
        return Result(cycles: cycles, elapsed: ContinuousClock.now - start, latencies: latencies)
    }

    private func produce(_ client: DocketClient, _ progress: Progress) async throws -> Latencies {
        var latencies = Latencies()
        while mayEnqueue(progress) {
            let sent = ContinuousClock.now
            let job = try await client.enqueue(queue: queue, payload: payload).job
            latencies.enqueue.record(microseconds(since: sent))
            progress.counts.withLock { $0.started[job.id] = sent }
        }
        progress.counts.withLock { $0.producersDone += 1 }
        return latencies
    }

    /// Takes a slot for one more enqueue, if the count or the deadline allows it.
    private func mayEnqueue(_ progress: Progress) -> Bool {
        progress.counts.withLock { counts in
            switch limit {
            case .count(let total): guard counts.enqueued < total else { return false }
            case .deadline(let deadline): guard ContinuousClock.now < deadline else { return false }
            }
            counts.enqueued += 1
            return true
        }
    }

    private func consume(_ client: DocketClient, _ progress: Progress) async throws -> Latencies {
        var latencies = Latencies()
        while true {
            let sent = ContinuousClock.now
            guard let job = try await client.claim(queues: [queue], wait: .milliseconds(100)) else {
                let finished = progress.counts.withLock { $0.producersDone == producers && $0.completed == $0.enqueued }
                if finished { return latencies }
                continue
            }
            latencies.claim.record(microseconds(since: sent))
            let completing = ContinuousClock.now
            _ = try await client.complete(job: job.id, version: job.version)
            latencies.complete.record(microseconds(since: completing))
            let started = progress.counts.withLock { counts in
                counts.completed += 1
                return counts.started.removeValue(forKey: job.id)
            }
            // A job left in the queue by an earlier run has no start time of ours.
            if let started { latencies.cycle.record(microseconds(since: started)) }
        }
    }

    private func microseconds(since start: ContinuousClock.Instant) -> UInt64 {
        let (seconds, attoseconds) = (ContinuousClock.now - start).components
        return UInt64(max(0, seconds * 1_000_000 + attoseconds / 1_000_000_000_000))
    }
}
