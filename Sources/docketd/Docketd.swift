import ArgumentParser
import Dispatch
import DocketClient
import DocketServer
import DocketStore
import Logging

#if canImport(Glibc)
import Glibc
#endif

@main
struct Docketd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "docketd",
        abstract: "The Docket job coordinator: one SQLite database served over a Unix socket.",
        discussion: """
            Socket: --socket, $DOCKET_SOCKET, $RUNTIME_DIRECTORY/docket.sock, /run/docket/docket.sock (root) \
            or $XDG_RUNTIME_DIR/docket.sock. Database: --db, $DOCKET_DB, $STATE_DIRECTORY/docket.db, \
            /var/lib/docket/docket.db (root) or $XDG_STATE_HOME/docket/docket.db \
            (~/.local/state/docket/docket.db). Missing parent folders are created.
            """,
        version: DocketDaemon.version)

    @Option(help: "The Unix socket to serve.")
    var socket: String?

    @Option(help: "The SQLite database file.")
    var db: String?

    @Option(
        help: """
            full: fsync every commit (default; nothing acknowledged is lost, even on power loss). \
            normal: fsync at checkpoints only (a process crash loses nothing, a power loss may lose the newest commits).
            """)
    var sync: SQLiteJobStore.Synchronous = .full

    @Option(help: "The longest request line accepted, in bytes.")
    var maxLineBytes: Int = 1 << 20

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    mutating func run() throws {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "docketd")
        var configuration = ServerConfiguration(
            socketPath: socket ?? DefaultPaths.socket(), databasePath: db ?? DefaultPaths.database())
        configuration.synchronous = sync
        guard (1024...(64 << 20)).contains(maxLineBytes) else {
            throw ValidationError("--max-line-bytes must be between 1024 and 67108864")
        }
        configuration.limits.maxLineBytes = maxLineBytes

        let daemon: DocketDaemon
        do {
            daemon = try DocketDaemon(configuration: configuration, logger: logger)
        } catch {
            logger.critical("docketd cannot start: \(error)")
            throw ExitCode(1)
        }
        Systemd.notify("READY=1\nSTATUS=serving \(configuration.socketPath)")

        let stop = DispatchSemaphore(value: 0)
        var sources: [any DispatchSourceSignal] = []
        for signalNumber in [SIGTERM, SIGINT] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { stop.signal() }
            source.resume()
            sources.append(source)
        }
        stop.wait()
        Systemd.notify("STOPPING=1")
        daemon.shutdown()
        _ = sources
    }
}

extension SQLiteJobStore.Synchronous: ExpressibleByArgument {}
extension Logger.Level: @retroactive ExpressibleByArgument {}
