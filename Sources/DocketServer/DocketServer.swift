#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import DocketProtocol
import DocketStore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// How one `docketd` runs.
public struct ServerConfiguration: Sendable {
    public var socketPath: String
    /// A SQLite file, or a PostgreSQL URL (then `postgres` is set).
    public var databasePath: String
    /// The PostgreSQL store, shared with any other daemons pointed at it.
    public var postgres: PostgresSettings?
    /// Connections (and threads) for read-only requests.
    public var readerConnections = 2
    public var synchronous: SQLiteJobStore.Synchronous = .full
    public var limits = Limits.standard
    /// Permissions of the socket file the daemon binds.
    public var socketMode: UInt32 = 0o660
    /// Group of the socket file the daemon binds (`nil` keeps the daemon's group).
    public var socketGroup: UInt32?
    /// Sockets passed by systemd; when there are any, `socketPath` is not bound.
    public var inheritedSockets: [Systemd.InheritedSocket] = []
    /// Who may connect besides the daemon's own user and root; empty lists admit everyone.
    public var access = AccessPolicy()
    public var eventLoops = 2
    public var retention = Retention()
    /// Test-only fault: the writer wedges after this many milliseconds.
    public var stallWriterAfterMs: UInt64?
    /// Where to serve `GET /metrics` over HTTP; nil (the default) serves none.
    public var metricsListen: MetricsListenAddress?

    public init(socketPath: String, databasePath: String) {
        self.socketPath = socketPath
        self.databasePath = databasePath
    }
}

/// A failure to start, worded for the person reading the terminal or the journal.
public struct StartupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The daemon: one store, one writer, the socket, and an orderly shutdown.
public final class DocketDaemon: Sendable {
    public static let version = "0.1.0"

    private let configuration: ServerConfiguration
    private let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    private let context: ServerContext
    private let listeners: NIOLockedValueBox<[any Channel]>
    private let socketWatch = NIOLockedValueBox<RepeatedTask?>(nil)
    private let locks: [FileLock]
    private let checkpointer: WALCheckpointer?
    private let events: EventRoute
    private let notifications: NIOLockedValueBox<[RepeatedTask]> = NIOLockedValueBox([])
    private let metricsServer: MetricsHTTPServer?

    /// Opens the database, starts the writer and binds the socket: once this returns the
    /// daemon is serving.
    public init(configuration: ServerConfiguration, clock: any WallClock = SystemClock(), logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        var locks: [FileLock] = []
        do {
            // A SQLite file is this daemon's alone; a PostgreSQL database is shared by design.
            if configuration.postgres == nil {
                try Self.makeParentDirectory(of: configuration.databasePath, mode: 0o750)
                locks.append(
                    try FileLock(path: configuration.databasePath + ".lock", purpose: "database \(configuration.databasePath)"))
            }
            if configuration.inheritedSockets.isEmpty {
                try Self.makeParentDirectory(of: configuration.socketPath, mode: 0o755)
                locks.append(try FileLock(path: configuration.socketPath + ".lock", purpose: "socket \(configuration.socketPath)"))
            }
        } catch let error as FileLock.Held {
            throw StartupError(error.description)
        }
        let backend: StoreBackend
        do {
            backend = try StoreBackend.open(configuration, clock: clock, logger: logger)
        } catch {
            throw StartupError("cannot open the database: \(Self.describe(error))")
        }
        checkpointer = backend.checkpointer
        let hub = EventHub()
        let events = EventRoute(hub: hub)
        self.events = events
        let metrics = DocketMetrics()
        let idleWork = backend.checkpointer.map { checkpointer -> @Sendable () -> Void in { checkpointer.finishCheckpoint() } }
        let writer = Writer(
            coordinator: Coordinator(store: backend.store, retention: configuration.retention, sharedStore: backend.isShared),
            clock: backend.clock, logger: logger, wal: backend.wal, publish: { events.committed($0) }, metrics: metrics,
            idleWork: idleWork,
            stallAfterMs: configuration.stallWriterAfterMs)
        context = ServerContext(
            writer: writer, hub: hub, readers: ReaderPool(readers: backend.readers, flusher: writer.flusher),
            info: ServerInfo(version: Self.version, limits: configuration.limits, store: backend.name),
            databasePath: configuration.postgres == nil ? configuration.databasePath : nil, access: configuration.access,
            clock: backend.clock, logger: logger, metrics: metrics)
        if let store = backend.shared {
            do {
                let latest = try backend.readers[0].latestEventSeq()
                events.follow(
                    with: PostgresEventFollower(
                        settings: store.settings, origin: store.origin, channel: store.channel, after: latest, logger: logger,
                        isWatched: { hub.isWatched }, deliver: { hub.publish($0) }, wake: { writer.wake($0) }))
            } catch {
                throw StartupError("cannot read the event log: \(Self.describe(error))")
            }
        }
        writer.start()
        group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.eventLoops)
        self.locks = locks
        do {
            if configuration.inheritedSockets.isEmpty {
                listeners = NIOLockedValueBox([
                    try Self.bind(
                        path: configuration.socketPath, mode: configuration.socketMode, group: configuration.socketGroup,
                        eventLoops: group, context: context)
                ])
            } else {
                let (eventLoops, context) = (group, context)
                listeners = NIOLockedValueBox(
                    try configuration.inheritedSockets.map { socket in
                        try Self.serve(socket, eventLoops: eventLoops, context: context)
                    })
            }
        } catch {
            writer.stopAndWait()
            try? group.syncShutdownGracefully()
            throw StartupError("cannot listen on \(configuration.socketPath): \(error)")
        }
        do {
            metricsServer = try configuration.metricsListen.map { [context] address in
                try MetricsHTTPServer(address: address, scrapes: MetricsScrapes(context: context), logger: logger)
            }
        } catch {
            for listener in listeners.withLockedValue({ $0 }) { try? listener.close().wait() }
            writer.stopAndWait()
            try? group.syncShutdownGracefully()
            throw error
        }
        let served =
            configuration.inheritedSockets.isEmpty
            ? configuration.socketPath
            : configuration.inheritedSockets.map { "fd \($0.descriptor) (\($0.name))" }.joined(separator: ", ")
        logger.info(
            "docketd serving",
            metadata: [
                "socket": "\(served)", "db": "\(configuration.postgres?.description ?? configuration.databasePath)",
                "store": "\(context.info.store)",
                "synchronous": "\(configuration.postgres == nil ? configuration.synchronous.rawValue : "the server's")",
                "version": "\(Self.version)",
                "metrics": "\(metricsServer?.url ?? "the metrics op only")",
            ])
    }

    /// Tells systemd the daemon is ready and starts the watchdog and status updates.
    public func announceReady() {
        let served =
            configuration.inheritedSockets.isEmpty
            ? configuration.socketPath : "\(configuration.inheritedSockets.count) inherited sockets"
        Systemd.notify("READY=1\nSTATUS=serving \(served)")
        let tasks = ServiceNotifier(context: context, eventLoop: group.next()).start()
        notifications.withLockedValue { $0 = tasks }
        if configuration.inheritedSockets.isEmpty { watchSocketFile() }
    }

    /// How often the socket file is checked. Someone deleting or replacing it (a tmp
    /// cleaner, a careless `rm`) would otherwise leave the daemon running but unreachable.
    static let socketCheckPeriod: TimeAmount = .seconds(2)

    /// Binds the socket path again whenever the file there is no longer the one we bound.
    private func watchSocketFile() {
        let path = configuration.socketPath
        var bound = stat()
        guard stat(path, &bound) == 0 else { return }
        let identity = NIOLockedValueBox((device: bound.st_dev, inode: bound.st_ino))
        let task = group.next().scheduleRepeatedTask(initialDelay: Self.socketCheckPeriod, delay: Self.socketCheckPeriod) {
            [self] _ in
            var current = stat()
            let present = stat(path, &current) == 0
            let known = identity.withLockedValue { $0 }
            if present && current.st_dev == known.device && current.st_ino == known.inode { return }
            // Binding waits for an event loop, so it must not run on this one.
            DispatchQueue.global().async { [self] in
                logger.warning("the socket file was removed or replaced; binding it again", metadata: ["socket": "\(path)"])
                do {
                    // Close the old listener first: NIO unlinks the path when a Unix listener
                    // closes, which would take the new socket's file with it.
                    let previous = listeners.withLockedValue { listeners in
                        defer { listeners = [] }
                        return listeners
                    }
                    for listener in previous { try? listener.close().wait() }
                    // Whatever stands at the path now is not a live daemon's (we hold the socket
                    // lock), and NIO will not bind over a file that is not a socket.
                    unlink(path)
                    let channel = try Self.bind(
                        path: path, mode: configuration.socketMode, group: configuration.socketGroup, eventLoops: group,
                        context: context)
                    listeners.withLockedValue { $0 = [channel] }
                    var fresh = stat()
                    if stat(path, &fresh) == 0 { identity.withLockedValue { $0 = (fresh.st_dev, fresh.st_ino) } }
                } catch {
                    logger.error("cannot bind the socket again; will retry", metadata: ["socket": "\(path)", "error": "\(error)"])
                }
            }
        }
        socketWatch.withLockedValue { $0 = task }
    }

    /// Stops accepting, answers parked claims with `job: null`, commits what is in flight,
    /// writes the last answers and closes every connection.
    public func shutdown() {
        logger.info("shutting down")
        Systemd.notify("STOPPING=1\nSTATUS=shutting down")
        for task in notifications.withLockedValue({ $0 }) { task.cancel() }
        context.startDraining()
        socketWatch.withLockedValue { $0?.cancel() }
        for listener in listeners.withLockedValue({ $0 }) { try? listener.close().wait() }
        metricsServer?.shutdown()
        context.writer.stopAndWait()
        events.stopFollowing()
        context.readers.shutdown()
        if let checkpoints = checkpointer?.finish() {
            logger.info(
                "WAL checkpoints while serving",
                metadata: [
                    "checkpoints": "\(checkpoints.checkpoints)", "longest": "\(checkpoints.longest)",
                    "finished_by_writer": "\(checkpoints.finishedByWriter)",
                ])
        }
        let channels = context.channels
        for channel in channels {
            channel.pipeline.handler(type: ConnectionHandler.self).whenSuccess { handler in
                handler.closeWhenIdle()
            }
        }
        for channel in channels {
            // A client that never reads its answers must not hold the exit up for long.
            let forced = channel.eventLoop.scheduleTask(in: .seconds(5)) { channel.close(promise: nil) }
            try? channel.closeFuture.wait()
            forced.cancel()
        }
        try? group.syncShutdownGracefully()
        if configuration.inheritedSockets.isEmpty { unlink(configuration.socketPath) }
        logger.info("stopped")
    }

    private static func bootstrap(eventLoops: MultiThreadedEventLoopGroup, context: ServerContext, readOnly: Bool)
        -> ServerBootstrap
    {
        let limit = context.info.limits.maxLineBytes
        let acceptErrors = AcceptErrorLogger(logger: context.logger)
        return ServerBootstrap(group: eventLoops)
            .serverChannelOption(.backlog, value: Self.backlog)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(acceptErrors) }
            }
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder(limit: limit)))
                    try channel.pipeline.syncOperations.addHandler(ConnectionHandler(server: context, readOnly: readOnly))
                }
            }
    }

    private static func bind(
        path: String, mode: UInt32, group socketGroup: UInt32?, eventLoops: MultiThreadedEventLoopGroup,
        context: ServerContext
    ) throws -> any Channel {
        // The socket lock is held, so a file at the path is a stale leftover, never a live daemon's.
        let channel = try bootstrap(eventLoops: eventLoops, context: context, readOnly: false)
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true)
            .wait()
        if let socketGroup, chown(path, uid_t.max, socketGroup) != 0 {
            throw StartupError("cannot give \(path) to group \(socketGroup): \(String(cString: strerror(errno)))")
        }
        guard chmod(path, mode_t(mode)) == 0 else {
            throw StartupError("cannot set mode \(String(mode, radix: 8)) on \(path): \(String(cString: strerror(errno)))")
        }
        return channel
    }

    /// Serves a socket systemd bound for us; one named `readonly` admits read ops only.
    private static func serve(
        _ socket: Systemd.InheritedSocket, eventLoops: MultiThreadedEventLoopGroup, context: ServerContext
    ) throws -> any Channel {
        let channel = try bootstrap(eventLoops: eventLoops, context: context, readOnly: socket.name == "readonly")
            .withBoundSocket(socket.descriptor)
            .wait()
        // NIO listens again with a backlog of 128, shrinking the unit's Backlog=; a second
        // listen() only sets the backlog, so restore a generous one.
        listen(socket.descriptor, Self.backlog)
        return channel
    }

    /// Connections waiting to be accepted: a burst of clients (or a restart) waits rather than
    /// being refused.
    static let backlog: Int32 = 512

    static func makeParentDirectory(of path: String, mode: UInt32) throws {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return }
        let parent = String(path[..<slash])
        var prefix = parent.hasPrefix("/") ? "" : "."
        for component in parent.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, mode_t(mode)) != 0, errno != EEXIST {
                throw StartupError("cannot create directory \(prefix): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// A store failure in words for a person at a terminal.
    public static func describe(_ error: StoreError) -> String {
        switch error {
        case .storage(let message), .commitUnsettled(let message), .incompatibleDatabase(let message), .invalidRequest(let message):
            return message
        default: return error.protocolError.message
        }
    }
}
