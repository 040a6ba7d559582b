import Dispatch
import DocketProtocol
import Logging
import PostgresNIO
import Synchronization

/// Follows a PostgreSQL store's event log for one daemon: every event of every daemon, in
/// `seq` order, with no gap and no duplicate, and the queues where claims should look again.
///
/// One thread and one connection of its own. It reads `seq > last` whenever another
/// daemon's commit is announced on the `docket` channel (LISTEN on the same connection), and
/// once a second in case a notification was lost (a reconnect, say); this daemon's own
/// events need no read when nothing came between (`committed`). Since seqs become visible in order (see
/// `PostgresJobStore.commit`), reading past the last one seen never skips an event.
///
/// While no connection of this daemon watches, nothing is read: the events would go nowhere,
/// and with several daemons the reads were a tenth of the database's work and most of this
/// thread's wake-ups. The place moves on to the newest seq known to be committed instead
/// (from this daemon's commits and the others' notifications, noted only while nobody
/// watches); every seq below it is committed too, so a watch that starts later finds those
/// in the log, and the reads resume from there. The notifications still wake parked claims.
public final class PostgresEventFollower: Sendable {
    private struct State {
        /// This daemon's own committed events, in commit order, not yet delivered.
        var local: [JobEvent] = []
        /// The newest seq known to be committed while nobody watched.
        var committedUnwatched: Int64 = 0
        var stopping = false
    }

    private let state = Mutex(State())
    private let signal = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    /// Signalled once the first round has run (listening, unless the server is away).
    private let listening = DispatchSemaphore(value: 0)
    private let settings: PostgresSettings
    private let logger: Logger
    private let deliver: @Sendable ([JobEvent]) -> Void
    private let wake: @Sendable (Set<String>?) -> Void
    /// Whether any connection of this daemon watches the events.
    private let isWatched: @Sendable () -> Bool
    /// The `from` of this daemon's own notifications, which say nothing new to it.
    private let origin: String
    /// The store's channel.
    private let channel: String
    /// How long the thread waits for news before it looks anyway (reads, when watched, and
    /// wakes every parked claim).
    static let fallbackPollMs = 1000

    /// `deliver` gets every event after `seq`, in order, on the follower's thread, while
    /// `isWatched`; `wake` the queues where a job may have become eligible (nil: any queue).
    public init(
        settings: PostgresSettings, origin: String, channel: String, after seq: Int64, logger: Logger,
        isWatched: @escaping @Sendable () -> Bool, deliver: @escaping @Sendable ([JobEvent]) -> Void,
        wake: @escaping @Sendable (Set<String>?) -> Void
    ) {
        self.isWatched = isWatched
        self.settings = settings
        self.origin = origin
        self.channel = channel
        self.logger = logger
        self.deliver = deliver
        self.wake = wake
        startThread(name: "docket-follower") { [self] in run(after: seq) }
        // Listening before the daemon says it is ready, so no announcement is missed then.
        _ = listening.wait(timeout: .now() + .seconds(3))
    }

    /// This daemon committed `events` (with their seqs). When they follow on from the last
    /// event delivered they go out without a read; when another daemon's events came in
    /// between, the log is read.
    public func committed(_ events: [JobEvent]) {
        guard let newest = events.last else { return }
        if isWatched() {
            state.withLock { $0.local += events }
            signal.signal()
        } else {
            passedUnwatched(newest.seq)
        }
    }

    private func passedUnwatched(_ seq: Int64) {
        state.withLock { $0.committedUnwatched = max($0.committedUnwatched, seq) }
    }

    public func stop() {
        state.withLock { $0.stopping = true }
        signal.signal()
        finished.wait()
    }

    private func run(after seq: Int64) {
        let reader = PostgresJobReader(session: PostgresJobStore.makeSession(settings, logger))
        var last = seq
        var listeningOn: ObjectIdentifier?
        var lastFailureLog: DispatchTime?
        // The first round runs at once: it connects and starts listening.
        var timedOut = false
        var announcedListening = false
        while true {
            let (local, committedUnwatched, stopping) = state.withLock { state in
                defer { state.local.removeAll(keepingCapacity: true) }
                return (state.local, state.committedUnwatched, state.stopping)
            }
            if stopping { break }
            // Every seq passed while nobody watched was committed before any watch present now
            // began, so that watch replays it from the log or starts past it: delivering it
            // again would only fill the watch's buffer (a busy second's events could overflow it).
            last = max(last, committedUnwatched)
            let watched = isWatched()
            // Every waiting claim looks again after a quiet second or a reconnect, in case a
            // notification was lost; otherwise notifications wake them (see `notified`).
            var wakeAll = timedOut
            // Own events that follow on from the last one delivered need no read.
            let following = local.drop { $0.seq <= last }
            if watched, !timedOut, let first = following.first, first.seq == last + 1,
                zip(following, following.dropFirst()).allSatisfy({ $1.seq == $0.seq + 1 })
            {
                last = following.last!.seq
                deliver(Array(following))
                timedOut = signal.wait(timeout: .now() + .milliseconds(Self.fallbackPollMs)) == .timedOut
                continue
            }
            do throws(StoreError) {
                let connection = try reader.session.connected()
                if listeningOn != ObjectIdentifier(connection) {
                    listen(on: connection)
                    try reader.session.run("LISTEN \(PostgresSchema.quoted(channel))")
                    listeningOn = ObjectIdentifier(connection)
                    wakeAll = true
                }
                while watched {
                    let events = try reader.events(after: last, scope: .everything, limit: 1000)
                    guard let newest = events.last else { break }
                    last = newest.seq
                    deliver(events)
                    if events.count < 1000 { break }
                }
            } catch {
                listeningOn = nil
                wakeAll = true
                if lastFailureLog.map({ DispatchTime.now() > $0 + .seconds(10) }) ?? true {
                    logger.error("cannot follow the event log; retrying", metadata: ["error": "\(error.protocolError.message)"])
                    lastFailureLog = .now()
                }
            }
            if wakeAll { wake(nil) }
            if !announcedListening {
                listening.signal()
                announcedListening = true
            }
            timedOut = signal.wait(timeout: .now() + .milliseconds(Self.fallbackPollMs)) == .timedOut
        }
        reader.session.close()
        finished.signal()
    }

    /// Notifications arrive on the connection's event loop; the thread does the reading.
    private func listen(on connection: PostgresConnection) {
        connection.addListener(channel: channel) { [weak self] _, notification in
            self?.notified(notification.payload)
        }
    }

    /// Another daemon committed: its claims-to-wake go to the writer at once (waking it does
    /// not block), and the thread reads the new events.
    private func notified(_ payload: String) {
        guard let value = try? JSONParser.parse(payload) else { return }
        if value["from"]?.string == origin { return }
        wake(value["wake"]?.array.map { Set($0.compactMap(\.string)) })
        if isWatched() {
            signal.signal()
        } else if let seq = value["seq"]?.int64 {
            passedUnwatched(seq)
        }
    }

}
