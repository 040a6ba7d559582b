import DocketProtocol
import Logging
import NIOConcurrencyHelpers
import NIOCore
import DocketStore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What every connection shares: where requests go and the server-wide counters.
final class ServerContext: Sendable {
    let writer: Writer
    let hub: EventHub
    let readers: ReaderPool
    let decoder: RequestDecoder
    let info: ServerInfo
    /// The SQLite file, for `backup`; nil on PostgreSQL.
    let databasePath: String?
    let access: AccessPolicy
    let clock: any WallClock
    let startedAt: Int64
    let logger: Logger
    let metrics: DocketMetrics
    /// Requests in flight on one connection before it stops reading (backpressure).
    let maxOutstandingPerConnection = 1024

    private let openChannels = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])
    private let draining = Atomic<Bool>(false)

    init(
        writer: Writer, hub: EventHub, readers: ReaderPool, info: ServerInfo, databasePath: String?, access: AccessPolicy,
        clock: any WallClock, logger: Logger, metrics: DocketMetrics
    ) {
        self.metrics = metrics
        self.databasePath = databasePath
        self.hub = hub
        self.access = access
        self.writer = writer
        self.readers = readers
        self.decoder = RequestDecoder(limits: info.limits)
        self.info = info
        self.clock = clock
        self.startedAt = clock.now()
        self.logger = logger
    }

    var connectionCount: Int { openChannels.withLockedValue { $0.count } }

    var isDraining: Bool { draining.load(ordering: .relaxed) }

    func startDraining() { draining.store(true, ordering: .relaxed) }

    func register(_ channel: any Channel) {
        openChannels.withLockedValue { $0[ObjectIdentifier(channel)] = channel }
    }

    func unregister(_ channel: any Channel) {
        openChannels.withLockedValue { $0[ObjectIdentifier(channel)] = nil }
    }

    var channels: [any Channel] { openChannels.withLockedValue { Array($0.values) } }

    /// Copies the database on a thread pool thread: a large copy takes a while, and neither
    /// the writer nor the readers should wait for it. Like a read, the answer waits until
    /// what the copy holds is on disk in the original too.
    func backup(to destination: String, on eventLoop: any EventLoop) -> EventLoopFuture<Reply> {
        guard let source = databasePath else {
            return eventLoop.makeSucceededFuture(
                .failure(
                    .badRequest(
                        "backup copies a SQLite file; this docketd serves PostgreSQL, so back it up with pg_dump or the server's own backups"
                    )))
        }
        return writer.flusher.onceDurable(
            NIOThreadPool.singleton.runIfActive(eventLoop: eventLoop) {
                do throws(StoreError) {
                    try DatabaseMaintenance.backup(from: source, to: destination)
                    var info = stat()
                    stat(destination, &info)
                    return .backedUp(path: destination, bytes: Int64(info.st_size))
                } catch {
                    return .failure(error.protocolError)
                }
            })
    }
}
