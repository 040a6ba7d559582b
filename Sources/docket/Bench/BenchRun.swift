import DocketClient
import DocketProtocol
import Histogram
import NIOCore
import Synchronization

/// The producers and consumers of one `docket bench`, and what they measured.
///
/// Each producer and consumer chains its requests on its connection's event loop: an answer
/// arrives, the next request goes out, with no task switch in between. Run through the async
/// client instead, the bench spent more CPU per cycle than the daemon it measures, on a
/// machine whose cores the two share.
struct BenchRun {
    enum Limit {
        case count(Int)
        case deadline(NIODeadline)
    }

    let connections: [DocketConnection]
    let producers: Int
    let consumers: Int
    let queue: String
    let payloadBytes: Int
    let limit: Limit
    /// Enqueues per second across all producers, paced; nil: as fast as answers come.
    let rate: Int?
    /// Jobs already enqueued before the clock starts (the backlog), counted as cycles.
    let backlog: Int
    /// Spread jobs over this many concurrency keys (see `Lines.keys`).
    let keys: Int?

    /// Round trips in microseconds, by op.
    struct Latencies: Sendable {
        var enqueue = Self.histogram()
        var claim = Self.histogram()
        /// From enqueue sent to claim answered with that job: how long work waits for a worker.
        var pickup = Self.histogram()
        var complete = Self.histogram()
        /// From enqueue sent to complete answered.
        var cycle = Self.histogram()

        static func histogram() -> Histogram<UInt64> {
            Histogram(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
        }

        mutating func add(_ other: Latencies) {
            enqueue.add(other.enqueue)
            claim.add(other.claim)
            pickup.add(other.pickup)
            complete.add(other.complete)
            cycle.add(other.cycle)
        }
    }

    struct Result {
        var cycles: Int
        var elapsed: Duration
        var latencies: Latencies
    }

    func run() async throws -> Result {
        let start = NIODeadline.now()
        let shared = Shared(
            limit: limit, producers: producers, pace: rate.map { TimeAmount.nanoseconds(1_000_000_000 / Int64($0)) }, start: start,
            backlog: backlog)
        let lines = Lines(queue: queue, payloadBytes: payloadBytes, keys: keys)
        var workers: [EventLoopFuture<Latencies>] = []
        for index in 0..<producers {
            workers.append(Worker(connection: connections[index % connections.count], shared: shared, lines: lines).produce())
        }
        for index in 0..<consumers {
            let connection = connections[(producers + index) % connections.count]
            workers.append(Worker(connection: connection, shared: shared, lines: lines).consume())
        }
        var total = Latencies()
        for worker in workers { total.add(try await worker.get()) }
        let elapsed = Duration.nanoseconds((NIODeadline.now() - start).nanoseconds)
        return Result(cycles: shared.counts.withLock { $0.completed }, elapsed: elapsed, latencies: total)
    }

    /// The request lines.
    struct Lines: Sendable {
        let queue: String
        let payloadBytes: Int
        /// Jobs get `concurrency_key` k0, k1, … round robin over this many keys.
        let keys: Int?
        let claim: [UInt8]

        init(queue: String, payloadBytes: Int, keys: Int?) {
            self.queue = queue
            self.payloadBytes = payloadBytes
            self.keys = keys
            var writer = JSONWriter()
            // A claim waits briefly for a job, so consumers do not spin on an empty queue. Its
            // answer needs the payload (the time the job was sent); the other answers are
            // only checked for success, so they carry no job members (`fields`).
            writer.value(["op": "claim", "queue": .string(queue), "wait_ms": 100, "fields": ["payload"]])
            claim = writer.bytes
        }

        /// The payload is a string that starts with the monotonic time the job was sent at,
        /// padded to the payload size, so whoever claims it knows how long it waited.
        func enqueue(sentAt sent: NIODeadline, slot: Int) -> [UInt8] {
            let stamp = String(sent.uptimeNanoseconds) + " "
            let padding = String(repeating: "x", count: max(0, payloadBytes - stamp.utf8.count))
            var writer = JSONWriter(reservingCapacity: 64 + payloadBytes)
            var request = job(slot: slot, payload: .string(stamp + padding))
            request["op"] = "enqueue"
            request["fields"] = []
            writer.value(.object(request))
            return writer.bytes
        }

        /// One job's members; the backlog's carry no time, so they count in no latency.
        func job(slot: Int, payload: JSONValue) -> JSONObject {
            var members = JSONObject([("queue", .string(queue)), ("payload", payload)])
            if let keys { members["concurrency_key"] = .string("k\(slot % keys)") }
            return members
        }

        /// When the job in a claim answer was sent, from its payload.
        static func sentAt(_ job: JSONValue) -> NIODeadline? {
            guard let text = job["payload"]?.string, let stamp = text.split(separator: " ", maxSplits: 1).first,
                let nanoseconds = UInt64(stamp)
            else { return nil }
            return NIODeadline.uptimeNanoseconds(nanoseconds)
        }

        func complete(job: Int64, version: Int64) -> [UInt8] {
            var writer = JSONWriter(reservingCapacity: 64)
            writer.value(["op": "complete", "job": .int(job), "version": .int(version), "fields": []])
            return writer.bytes
        }
    }

    /// What producers and consumers share.
    final class Shared: Sendable {
        struct Counts {
            var enqueued = 0
            var completed = 0
            var producersDone = 0
        }
        let counts = Mutex(Counts())
        let limit: Limit
        let producers: Int
        let pace: TimeAmount?
        let start: NIODeadline
        let backlog: Int

        init(limit: Limit, producers: Int, pace: TimeAmount?, start: NIODeadline, backlog: Int) {
            self.limit = limit
            self.producers = producers
            self.pace = pace
            self.start = start
            self.backlog = backlog
            counts.withLock { $0.enqueued = backlog }
        }

        /// Takes a slot for one more enqueue, if the count or the deadline allows it, and says
        /// when it is due (now, unless paced).
        func nextEnqueue() -> (due: NIODeadline, slot: Int)? {
            counts.withLock { counts in
                let slot = counts.enqueued
                switch limit {
                case .count(let total): guard slot - backlog < total else { return nil }
                case .deadline(let deadline): guard NIODeadline.now() < deadline else { return nil }
                }
                counts.enqueued += 1
                return (pace.map { start + $0 * Int64(slot - backlog) } ?? .now(), slot)
            }
        }

        var isDrained: Bool {
            counts.withLock { $0.producersDone == producers && $0.completed == $0.enqueued }
        }
    }

    /// One producer or consumer: a loop of requests on one connection's event loop. Its
    /// state is touched only from that loop.
    final class Worker: @unchecked Sendable {
        let connection: DocketConnection
        let shared: Shared
        let lines: Lines
        let done: EventLoopPromise<Latencies>
        var latencies = Latencies()

        init(connection: DocketConnection, shared: Shared, lines: Lines) {
            self.connection = connection
            self.shared = shared
            self.lines = lines
            done = connection.eventLoop.makePromise()
        }

        func produce() -> EventLoopFuture<Latencies> {
            connection.eventLoop.execute { self.enqueueNext() }
            return done.futureResult
        }

        func consume() -> EventLoopFuture<Latencies> {
            connection.eventLoop.execute { self.claimNext() }
            return done.futureResult
        }

        private func enqueueNext() {
            guard let (due, slot) = shared.nextEnqueue() else {
                shared.counts.withLock { $0.producersDone += 1 }
                done.succeed(latencies)
                return
            }
            if due > .now() {
                connection.eventLoop.scheduleTask(deadline: due) { self.enqueue(slot) }
            } else {
                enqueue(slot)
            }
        }

        private func enqueue(_ slot: Int) {
            let sent = NIODeadline.now()
            send(lines.enqueue(sentAt: sent, slot: slot)) { _ in
                self.latencies.enqueue.record(Self.microseconds(since: sent))
                self.enqueueNext()
            }
        }

        private func claimNext() {
            let sent = NIODeadline.now()
            send(lines.claim) { line in
                let answer = try? DocketConnection.parse(answer: line)
                guard let job = answer?["job"], let id = job["id"]?.int64, let version = job["version"]?.int64 else {
                    if self.shared.isDrained { self.done.succeed(self.latencies) } else { self.claimNext() }
                    return
                }
                self.latencies.claim.record(Self.microseconds(since: sent))
                // A job left in the queue by another run carries no time of ours.
                let enqueued = Lines.sentAt(job)
                if let enqueued { self.latencies.pickup.record(Self.microseconds(since: enqueued)) }
                self.complete(id, version, enqueued: enqueued)
            }
        }

        private func complete(_ id: Int64, _ version: Int64, enqueued: NIODeadline?) {
            let sent = NIODeadline.now()
            send(lines.complete(job: id, version: version)) { _ in
                self.latencies.complete.record(Self.microseconds(since: sent))
                self.shared.counts.withLock { $0.completed += 1 }
                if let enqueued { self.latencies.cycle.record(Self.microseconds(since: enqueued)) }
                self.claimNext()
            }
        }

        /// Sends a line and hands a successful answer line to `next`, unparsed: only a claim's
        /// job is needed, and parsing every answer cost the bench as much CPU as the rest of
        /// the round trip. A refusal or a lost connection ends the run with that error.
        private func send(_ line: [UInt8], then next: @escaping @Sendable (ByteBuffer) -> Void) {
            connection.answerLine(toLine: line).whenComplete { result in
                switch result {
                case .success(let answer) where DocketConnection.isSuccess(answer): next(answer)
                case .success(let answer): self.fail("docketd refused a bench request: \(String(buffer: answer))")
                case .failure(let error): self.done.fail(error)
                }
            }
        }

        private func fail(_ message: String) {
            done.fail(DocketClientError.invalidResponse(message))
        }

        private static func microseconds(since start: NIODeadline) -> UInt64 {
            UInt64(max(0, (NIODeadline.now() - start).nanoseconds / 1000))
        }
    }
}
