import Dispatch
import DocketProtocol
import DocketStore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Lets a committed batch's answers and events out once the batch is on disk, on a thread
/// of its own.
///
/// The writer commits without an fsync and hands each batch here. While this thread flushes
/// the WAL, the writer already runs the next batch, and one flush covers every batch handed
/// over before it started, so the fsync, the larger part of a commit, is off the writer's
/// path. Batches come out in the order they were committed. A writer with nothing else to do,
/// or whose flushes are quick (`quickFlush`), settles its batch itself (`settle`), when no
/// batch is on its way through here.
///
/// Reads take part too: a reader connection sees a commit as soon as it is made, so a read
/// is answered only once every batch the writer had begun by the end of the read is durable.
/// Nobody is ever shown a change that a power loss could still take back.
final class Flusher: Sendable {
    private struct State {
        var pending: [(completions: [Coordinator.Completion], events: [JobEvent])] = []
        /// The last batch handed over, and the last one known to be on disk.
        var handed: UInt64 = 0
        var durable: UInt64 = 0
        /// Reads waiting for a batch to become durable, with the batch each waits for.
        var reads: [(batch: UInt64, promise: EventLoopPromise<Void>)] = []
        var stopping = false
        /// The flusher thread, or the writer flushing in its place, is between taking batches
        /// and having answered them.
        var inFlight = false
    }

    private let state = NIOLockedValueBox(State())
    /// Batches the writer has begun; a read's snapshot can show at most these.
    private let begun = Atomic<UInt64>(0)
    private let wakeUp = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    /// nil with `--sync normal`: answers go out as soon as the batch is handed over.
    private let wal: WALFlush?
    /// Where committed events go (see `EventRoute`).
    private let publish: @Sendable ([JobEvent]) -> Void
    private let logger: Logger
    /// The flush in progress, whichever thread runs it.
    private let busy = BusyWatch()
    /// How long a flush takes, as a moving average over the last few (ns).
    private let typicalFlush = Atomic<UInt64>(0)
    /// Below this, a flush is cheaper for the writer to do in place than to hand over: the
    /// hand-over wakes this thread and, later, the writer again, and on a busy machine those
    /// wake-ups cost more than a short flush would let the writer do meanwhile. A slow disk's
    /// flush is worth overlapping with the next batch. Measured on a virtual disk whose flush
    /// takes about 200 µs: settling in place used 7–17% less CPU per job and served up to 19%
    /// more; with each flush slowed by a further 0.3–1 ms, handing over served up to 20% more.
    static let quickFlush: UInt64 = 350_000

    init(wal: WALFlush?, publish: @escaping @Sendable ([JobEvent]) -> Void, logger: Logger) {
        self.wal = wal
        self.publish = publish
        self.logger = logger
        startThread(name: "docket-flusher") { [self] in run() }
    }

    /// Called by the writer before it starts a batch's transaction.
    func beginBatch() {
        begun.add(1, ordering: .sequentiallyConsistent)
    }

    /// Called by the writer once the batch it began last has committed (or rolled back).
    func hand(_ completions: [Coordinator.Completion], events: [JobEvent]) {
        let batch = begun.load(ordering: .sequentiallyConsistent)
        let wasIdle = state.withLockedValue { state -> Bool in
            state.pending.append((completions, events))
            state.handed = batch
            return state.pending.count == 1
        }
        if wasIdle { wakeUp.signal() }
    }

    /// `read`'s result, once everything the read could have seen is on disk (at once with
    /// `--sync normal`, which promises nothing across a power loss).
    func onceDurable<Result: Sendable>(_ read: EventLoopFuture<Result>) -> EventLoopFuture<Result> {
        read.flatMap { result in self.afterDurable(on: read.eventLoop).map { result } }
    }

    /// Succeeds once everything a read that has just finished could have seen is on disk.
    private func afterDurable(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        guard wal != nil else { return eventLoop.makeSucceededVoidFuture() }
        let batch = begun.load(ordering: .sequentiallyConsistent)
        let promise = state.withLockedValue { state -> EventLoopPromise<Void>? in
            guard state.durable < batch else { return nil }
            let promise = eventLoop.makePromise(of: Void.self)
            state.reads.append((batch, promise))
            return promise
        }
        return promise?.futureResult ?? eventLoop.makeSucceededVoidFuture()
    }

    /// False when one flush has taken longer than `limit`: a disk that no longer answers.
    func isMakingProgress(limit: TimeAmount) -> Bool {
        busy.isMakingProgress(limit: limit)
    }

    /// Flushes and answers what was handed over, then ends the thread. The writer has stopped.
    func finish() {
        state.withLockedValue { $0.stopping = true }
        wakeUp.signal()
        finished.wait()
    }

    private func run() {
        while true {
            wakeUp.wait()
            let (batches, upTo, stopping) = state.withLockedValue { state in
                defer { state.pending.removeAll(keepingCapacity: true) }
                state.inFlight = true
                return (state.pending, state.handed, state.stopping)
            }
            settle(batches, upTo: upTo)
            if stopping {
                finished.signal()
                return
            }
        }
    }

    /// Called by the writer once the batch it began last has committed: when no batch is on
    /// its way through this thread, and either the writer has nothing else to do (`writerIdle`)
    /// or flushes have lately been quick (see `quickFlush`; always so without a WAL to flush),
    /// the writer flushes and answers its batch itself, which spares waking this thread and
    /// its going back to sleep. Otherwise the batch is handed over.
    func settle(_ completions: [Coordinator.Completion], events: [JobEvent], writerIdle: Bool) {
        let quick = wal == nil || typicalFlush.load(ordering: .relaxed) < Self.quickFlush
        if !((writerIdle || quick) && settleHere(completions, events: events)) {
            hand(completions, events: events)
        }
    }

    /// Settles the batch on the calling thread, the writer's, when no batch is on its way
    /// through this thread; returns false, having done nothing, otherwise.
    private func settleHere(_ completions: [Coordinator.Completion], events: [JobEvent]) -> Bool {
        let batch = begun.load(ordering: .sequentiallyConsistent)
        let free = state.withLockedValue { state -> Bool in
            guard state.pending.isEmpty, !state.inFlight else { return false }
            state.inFlight = true
            state.handed = batch
            return true
        }
        guard free else { return false }
        settle([(completions, events)], upTo: batch)
        return true
    }

    private func settle(_ batches: [(completions: [Coordinator.Completion], events: [JobEvent])], upTo: UInt64) {
        if !batches.isEmpty { flush() }
        let reads = state.withLockedValue { state in
            state.durable = upTo
            let ready = state.reads.filter { $0.batch <= upTo }
            state.reads.removeAll { $0.batch <= upTo }
            return ready
        }
        // All the batches' answers in one go: one wake-up of each event loop, in order.
        deliver(batches.flatMap(\.completions))
        let events = batches.flatMap(\.events)
        if !events.isEmpty { publish(events) }
        for read in reads { read.promise.succeed() }
        // Only now: a batch settled after this one must not overtake its answers or events.
        state.withLockedValue { $0.inFlight = false }
    }

    private func flush() {
        guard let wal else { return }
        busy.during {
            let started = DispatchTime.now().uptimeNanoseconds
            do throws(StoreError) {
                guard try wal.flush() else { return }
                // Only this thread or the writer flushes, one at a time, so the update cannot race.
                let took = DispatchTime.now().uptimeNanoseconds &- started
                let typical = typicalFlush.load(ordering: .relaxed)
                typicalFlush.store(typical - typical / 8 + took / 8, ordering: .relaxed)
            } catch {
                Writer.exitUnanswered(error.protocolError.message, logger: logger)
            }
        }
    }

    /// Sends the answers, one task per event loop for all of that loop's answers: waking a
    /// loop costs more than answering, and a batch often holds many answers for each loop.
    private func deliver(_ completions: [Coordinator.Completion]) {
        var byLoop: [ObjectIdentifier: (loop: any EventLoop, completions: [Coordinator.Completion])] = [:]
        for completion in completions {
            guard let loop = completion.eventLoop else {
                completion.respond(completion.reply)
                continue
            }
            byLoop[ObjectIdentifier(loop), default: (loop, [])].completions.append(completion)
        }
        for (loop, group) in byLoop.values {
            let answers = group
            loop.execute { for completion in answers { completion.respond(completion.reply) } }
        }
    }
}
