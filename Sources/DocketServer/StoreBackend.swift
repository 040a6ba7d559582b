#if canImport(Glibc)
import Glibc
#endif
import DocketProtocol
import DocketStore
import Logging
import Synchronization

/// The store a daemon serves, opened with what surrounds it on its backend: SQLite brings
/// its WAL flusher and checkpointer and is this daemon's alone; PostgreSQL is shared with
/// other daemons, so its events are followed from the database and its clock is the
/// database's.
struct StoreBackend {
    let name: String
    let store: any JobStore
    let readers: [any JobReader]
    /// Flushes SQLite's WAL before answers go out (`--sync full`); nil where a commit is
    /// durable when it returns.
    let wal: WALFlush?
    let checkpointer: WALCheckpointer?
    /// The PostgreSQL store, which other daemons share (nil on SQLite).
    let shared: PostgresJobStore?
    let clock: any WallClock

    var isShared: Bool { shared != nil }

    static func open(_ configuration: ServerConfiguration, clock: any WallClock, logger: Logger) throws(StoreError) -> StoreBackend {
        if let settings = configuration.postgres {
            let store = try PostgresJobStore(settings: settings, logger: logger)
            let readers = try (0..<configuration.readerConnections).map { _ throws(StoreError) in try store.makeReader() }
            // Leases and delays written by one daemon are read by all: each tells time by the
            // database's clock, measured here and again every minute.
            let databaseClock = DatabaseClock(local: clock, settings: settings, logger: logger)
            try databaseClock.synchronize()
            return StoreBackend(
                name: "postgresql", store: store, readers: readers, wal: nil, checkpointer: nil, shared: store,
                clock: databaseClock)
        }
        // The writer's commits do not wait for the disk; with `--sync full` the flusher makes
        // each one durable before it is answered (see Flusher).
        let store = try SQLiteJobStore(path: configuration.databasePath, synchronous: .normal)
        let wal = configuration.synchronous == .full ? try WALFlush(store: store) : nil
        let readers = try (0..<configuration.readerConnections).map { _ throws(StoreError) in try store.makeReader() }
        return StoreBackend(
            name: "sqlite", store: store, readers: readers, wal: wal, checkpointer: try WALCheckpointer(store: store),
            shared: nil, clock: clock)
    }
}

/// Where committed events go. On SQLite this daemon is the only writer and commits in seq
/// order, so they go straight to the hub. On PostgreSQL the events of every daemon must
/// reach the hub in one seq order, so this daemon's own go the same way as the others':
/// through the follower, which publishes them at once when no other daemon's came between.
final class EventRoute: Sendable {
    let hub: EventHub
    private let follower = Mutex<PostgresEventFollower?>(nil)

    init(hub: EventHub) {
        self.hub = hub
    }

    func follow(with follower: PostgresEventFollower) {
        self.follower.withLock { $0 = follower }
    }

    func stopFollowing() {
        let current = follower.withLock { follower in
            defer { follower = nil }
            return follower
        }
        current?.stop()
    }

    func committed(_ events: [JobEvent]) {
        if let follower = follower.withLock({ $0 }) {
            follower.committed(events)
        } else {
            hub.publish(events)
        }
    }
}

/// The database server's time, read through this host's clock plus a measured offset, so
/// that daemons whose hosts' clocks disagree still agree on when a lease passes.
final class DatabaseClock: WallClock {
    private let local: any WallClock
    private let offset = Atomic<Int64>(0)
    /// A connection of the clock's own, used from one thread at a time.
    private let reader: Mutex<PostgresJobReader>
    static let remeasureSeconds: UInt32 = 60

    init(local: any WallClock, settings: PostgresSettings, logger: Logger) {
        self.local = local
        self.reader = Mutex(PostgresJobStore.makeReader(settings: settings, logger: logger))
        // A thread of its own: the measurement blocks on the database.
        startThread(name: "docket-clock") { [weak self] in
            while true {
                sleep(Self.remeasureSeconds)
                guard let self else { return }
                try? self.synchronize()
            }
        }
    }

    /// Measures the offset; a failure keeps the last one.
    func synchronize() throws(StoreError) {
        let measured = try reader.withLock { reader throws(StoreError) in try reader.databaseTimeOffset(localNow: local.now) }
        offset.store(measured, ordering: .relaxed)
    }

    func now() -> Int64 {
        local.now() + offset.load(ordering: .relaxed)
    }
}
