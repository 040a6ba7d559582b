#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import DocketProtocol
import DocketStore
import Logging
import NIOCore
import NIOConcurrencyHelpers
import Synchronization

/// The one thread that owns the write connection (never an event loop, never the
/// cooperative pool).
///
/// Group commit falls out of the loop: while one batch runs, new requests pile up in the
/// inbox and all of them form the next batch, one transaction for all. The commit does not
/// wait for the disk: the `Flusher` makes it durable and only then lets its answers out,
/// while this thread already runs the next batch. With no next batch in hand and the flusher
/// free, this thread flushes and answers by itself instead: the hand-over's wake-up is a
/// large part of a small batch's cost. The same loop sleeps until the earliest
/// deadline (a delayed job, a lease, a claim's wait) when there is nothing to do: one timer,
/// no polling.
public final class Writer: Sendable {
    private struct State {
        var inbox: [WriteCommand] = []
        /// Queues where parked claims should look again (nil: all), for changes made by
        /// other daemons sharing the store.
        var wake: Set<String>? = []
        var stopping = false
    }

    private let state = NIOLockedValueBox(State())
    private let wakeUp = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let clock: any WallClock
    private let logger: Logger
    /// Parked claims right now, for `stats`.
    private let waiting = Atomic<Int>(0)
    /// Batches committed so far.
    private let batches = Atomic<Int>(0)
    /// The batch (or idle work) in progress; the watchdog stops vouching for a daemon whose
    /// writer has been inside one for too long.
    private let busy = BusyWatch()
    /// Test-only fault: after this many ms of uptime the writer wedges inside its next batch.
    private let stallAfterMs: UInt64?
    private let startedAt = DispatchTime.now().uptimeNanoseconds

    // The coordinator is confined to the writer thread; nothing else touches it.
    private nonisolated(unsafe) let engine: Coordinator
    // Confined to the writer thread too: counts what each committed batch did.
    private nonisolated(unsafe) let batchMetrics: BatchMetrics

    /// Where committed batches go to be made durable and answered.
    let flusher: Flusher
    /// Store upkeep for the writer's thread at a moment when no request waits for it.
    private let idleWork: (@Sendable () -> Void)?

    /// `wal` flushes each commit to disk before its answers go out; nil sends them at once
    /// (`--sync normal`, or a store whose commit is durable when it returns). Committed events
    /// go to `publish`, for `watch` connections. `idleWork` runs on the writer's thread after
    /// a batch when no request is waiting (SQLite finishes its WAL checkpoints there).
    public init(
        coordinator: Coordinator, clock: any WallClock, logger: Logger, wal: WALFlush?,
        publish: @escaping @Sendable ([JobEvent]) -> Void, metrics: DocketMetrics, idleWork: (@Sendable () -> Void)? = nil,
        stallAfterMs: UInt64? = nil
    ) {
        self.idleWork = idleWork
        self.engine = coordinator
        self.batchMetrics = BatchMetrics(metrics)
        self.flusher = Flusher(wal: wal, publish: publish, logger: logger)
        self.stallAfterMs = stallAfterMs
        self.clock = clock
        self.logger = logger
    }

    public var waitingClaims: Int { waiting.load(ordering: .relaxed) }
    public var committedBatches: Int { batches.load(ordering: .relaxed) }

    /// False when the writer has spent more than `limit` inside one batch, or a flush has
    /// taken that long: a wedged disk or a stuck lock, which systemd should answer by
    /// restarting the daemon.
    public func isMakingProgress(limit: TimeAmount) -> Bool {
        busy.isMakingProgress(limit: limit) && flusher.isMakingProgress(limit: limit)
    }

    /// Starts the writer thread.
    public func start() {
        startThread(name: "docket-writer") { [self] in run() }
    }

    /// Queues a change; its `respond` is called once the change is committed and on disk.
    /// Once the writer is stopping, the answer is `shutting_down` at once.
    public func submit(_ command: WriteCommand) {
        // nil: refused (stopping); true: the inbox was empty, so the writer may be asleep.
        let wake = state.withLockedValue { state -> Bool? in
            guard !state.stopping else { return nil }
            state.inbox.append(command)
            return state.inbox.count == 1
        }
        switch wake {
        case nil: command.respond(.failure(ProtocolError(.shuttingDown, "docketd is shutting down; reconnect when it is back")))
        case true?: wakeUp.signal()
        case false?: break
        }
    }

    /// Another daemon made jobs eligible in `queues` (nil: anywhere): parked claims look again.
    public func wake(_ queues: Set<String>?) {
        let wasIdle = state.withLockedValue { state -> Bool in
            guard !state.stopping, state.wake != nil || queues != nil else { return false }
            let idle = state.inbox.isEmpty && state.wake?.isEmpty ?? false
            if let queues, state.wake != nil { state.wake!.formUnion(queues) } else { state.wake = nil }
            return idle
        }
        if wasIdle { wakeUp.signal() }
    }

    /// Finishes and commits what is queued, answers parked claims with `job: null`, and
    /// returns once the writer thread has ended.
    public func stopAndWait() {
        state.withLockedValue { $0.stopping = true }
        wakeUp.signal()
        finished.wait()
    }

    private func run() {
        var deadline = engine.nextDeadline()
        while true {
            waitForWork(until: deadline)
            let (batch, wake, stopping) = state.withLockedValue { state in
                defer {
                    state.inbox.removeAll(keepingCapacity: true)
                    state.wake = []
                }
                return (state.inbox, state.wake, state.stopping)
            }
            let woken = wake.map { !$0.isEmpty } ?? true
            if batch.isEmpty, !woken, !stopping, deadline.map({ clock.now() < $0 }) ?? true {
                continue  // a wake-up whose request was already taken by the previous batch
            }
            let outcome = busy.during {
                stallIfFaultInjected()
                flusher.beginBatch()
                let outcome = batchMetrics.measure { engine.process(batch, now: clock.now(), wake: woken ? wake : []) }
                if case .commitUnsettled(let message)? = outcome.failure { Self.exitUnanswered(message, logger: logger) }
                return outcome
            }
            batches.add(1, ordering: .relaxed)
            if let failure = outcome.failure { reportFailure(failure, requests: batch.count) }
            let nothingWaiting = !stopping && state.withLockedValue { $0.inbox.isEmpty && $0.wake?.isEmpty == true }
            flusher.settle(outcome.completions, events: outcome.events, writerIdle: nothingWaiting)
            if nothingWaiting, let idleWork {
                // Counted as busy: a disk that stops answering inside it wedges the writer too.
                busy.during(idleWork)
            }
            if stopping {
                flusher.hand(engine.releaseAllWaiters(), events: [])
                flusher.finish()
                waiting.store(0, ordering: .relaxed)
                logger.info("writer stopped", metadata: ["batches": "\(committedBatches)"])
                finished.signal()
                return
            }
            waiting.store(engine.waitingClaims, ordering: .relaxed)
            deadline = engine.nextDeadline()
        }
    }

    /// When the last storage failure was logged, and how many batches failed since.
    private nonisolated(unsafe) var lastFailureLog: ContinuousClock.Instant?
    private nonisolated(unsafe) var unloggedFailures = 0

    /// Logs a failed transaction (disk full, read-only file, I/O error) at most every ten
    /// seconds, with a count of the failures in between, so a long outage stays readable.
    private func reportFailure(_ failure: StoreError, requests: Int) {
        unloggedFailures += 1
        let now = ContinuousClock.now
        guard lastFailureLog.map({ now - $0 > .seconds(10) }) ?? true else { return }
        logger.error(
            "a transaction failed and was rolled back; its requests were answered 'internal'",
            metadata: [
                "error": "\(failure.protocolError.message)", "requests": "\(requests)",
                "failed_batches_since_last_report": "\(unloggedFailures)",
            ])
        lastFailureLog = now
        unloggedFailures = 0
    }

    /// After a failed flush the batch may or may not be in the file (the kernel may have
    /// written its pages or dropped them), so `internal`, which promises "not applied", could
    /// be untrue, and a retry would apply the change twice. Exiting leaves the batch
    /// unanswered, as a crash does, and the next start settles it from the file.
    static func exitUnanswered(_ message: String, logger: Logger) -> Never {
        logger.critical(
            "a commit could not be flushed to disk, so whether it was applied is unknown; docketd exits without answering its requests, and its next start settles them from the database file",
            metadata: ["error": "\(message)"])
        fflush(nil)
        _exit(Self.unsettledExitStatus)
    }

    /// EX_IOERR of sysexits.h.
    public static let unsettledExitStatus: Int32 = 74

    private func stallIfFaultInjected() {
        guard let stallAfterMs, DispatchTime.now().uptimeNanoseconds - startedAt > stallAfterMs * 1_000_000 else { return }
        logger.warning("test fault: the writer stalls for good")
        while true { sleep(3600) }
    }

    /// Sleeps until a request arrives or `deadline` (wall-clock ms) passes.
    private func waitForWork(until deadline: Int64?) {
        let hasWork = state.withLockedValue { !$0.inbox.isEmpty || $0.stopping || $0.wake?.isEmpty != true }
        if hasWork { return }
        guard let deadline else {
            wakeUp.wait()
            return
        }
        let remaining = deadline - clock.now()
        if remaining <= 0 { return }
        _ = wakeUp.wait(timeout: .now() + .milliseconds(Int(min(remaining, Int64(Int32.max)))))
    }
}
