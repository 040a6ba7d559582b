import ArgumentParser
import Dispatch
import DocketClient
import DocketProtocol
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
        abstract: "The Docket job coordinator: a SQLite database, or a PostgreSQL one shared by many docketd, served over a Unix socket.",
        discussion: """
            Socket: --socket, $DOCKET_SOCKET, $RUNTIME_DIRECTORY/docket.sock, /run/docket/docket.sock (root) \
            or $XDG_RUNTIME_DIR/docket.sock. Database: --db, $DOCKET_DB, $STATE_DIRECTORY/docket.db, \
            /var/lib/docket/docket.db (root) or $XDG_STATE_HOME/docket/docket.db \
            (~/.local/state/docket/docket.db). Missing parent folders are created. A --db of the form \
            postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?host=/run/postgresql&sslmode=disable] serves a \
            PostgreSQL database instead, which any number of docketd may share ($PGPASSWORD when the URL has none).

            Under socket activation (LISTEN_FDS) docketd serves the inherited sockets and ignores \
            --socket; a socket named "readonly" (FileDescriptorName=readonly) serves read ops only.
            """,
        version: DocketDaemon.version)

    @Option(help: "The Unix socket to serve.")
    var socket: String?

    @Option(help: "The SQLite database file, or a postgresql:// URL.")
    var db: String?

    @Option(
        help: """
            full: fsync every commit (default; nothing acknowledged is lost, even on power loss). \
            normal: fsync at checkpoints only (a process crash loses nothing, a power loss may lose the newest commits).
            """)
    var sync: SQLiteJobStore.Synchronous = .full

    @Option(help: "Permissions of the socket file, in octal.")
    var socketMode: String = "0660"

    @Option(help: "Group (name or number) to own the socket file.")
    var socketGroup: String?

    @Option(help: "A user (name or uid) allowed to connect besides docketd's own user and root. Repeatable.")
    var allowUid: [String] = []

    @Option(help: "A group (name or gid) whose members' connections are allowed. Repeatable.")
    var allowGid: [String] = []

    @Option(help: "How long completed and cancelled jobs (and their history) are kept: 30m, 12h, 7d, or 'forever'.")
    var retain: String = "7d"

    @Option(help: "Overrides --retain for completed jobs.")
    var retainCompleted: String?

    @Option(help: "Overrides --retain for cancelled jobs.")
    var retainCancelled: String?

    @Option(help: "How long failed jobs are kept (default: forever, until retried or purged).")
    var retainFailed: String = "forever"

    @Option(help: "The longest request line accepted, in bytes.")
    var maxLineBytes: Int = 1 << 20

    @Option(
        help: """
            Also serve the metrics (the metrics op's Prometheus text) at http://HOST:PORT/metrics, \
            e.g. 127.0.0.1:9464. Off by default. Read only and without authentication: bind it to \
            loopback or a private network.
            """)
    var metricsListen: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Flag(help: "Check the database (PRAGMA integrity_check) and report, then exit: 0 when sound, 1 when not.")
    var check = false

    mutating func run() throws {
        if check { try runCheck() }
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "docketd")
        let configuration: ServerConfiguration
        do {
            configuration = try makeConfiguration()
        } catch {
            logger.critical("docketd cannot start: \(error)")
            throw ExitCode(2)
        }

        raiseDescriptorLimit()
        let daemon: DocketDaemon
        do {
            daemon = try DocketDaemon(configuration: configuration, logger: logger)
        } catch {
            logger.critical("docketd cannot start: \(error)")
            throw ExitCode(1)
        }
        daemon.announceReady()

        // Nothing is reloadable yet; SIGHUP must not end the daemon as its default action would.
        signal(SIGHUP, SIG_IGN)
        let stop = DispatchSemaphore(value: 0)
        let sources = [SIGTERM, SIGINT].map { signalNumber in
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { stop.signal() }
            source.resume()
            return source
        }
        stop.wait()
        daemon.shutdown()
        sources.forEach { $0.cancel() }
    }

    func runCheck() throws -> Never {
        let path = db ?? DefaultPaths.database()
        if PostgresSettings.isPostgresURL(path) { try runPostgresCheck(path) }
        do {
            let report = try DatabaseMaintenance.check(path: path)
            print("database:       \(path)")
            print("schema version: \(report.schemaVersion)")
            print("jobs:           \(report.jobs)")
            print("events:         \(report.events)")
            print("schedules:      \(report.schedules)")
            print("integrity:      \(report.integrity.joined(separator: "\n                "))")
            if !report.isHealthy {
                print("The database is damaged. Stop docketd, keep a copy of the file, and restore the latest backup (docket backup).")
            }
            throw ExitCode(report.isHealthy ? 0 : 1)
        } catch let error as StoreError {
            print("cannot check \(path): \(DocketDaemon.describe(error))")
            throw ExitCode(1)
        }
    }

    /// `--check` on PostgreSQL: the server answers, the schema is Docket's and not newer than
    /// this build, the event counter agrees with the events.
    func runPostgresCheck(_ url: String) throws -> Never {
        let logger = Logger(label: "docketd")
        do {
            let settings = try PostgresSettings(url: url, environment: DefaultPaths.environment("PGPASSWORD").map { ["PGPASSWORD": $0] } ?? [:])
            print("database:       \(settings)")
            let report = try PostgresJobStore.check(settings: settings, logger: logger)
            print("schema version: \(report.schemaVersion)")
            print("jobs:           \(report.jobs)")
            print("events:         \(report.events)")
            print("schedules:      \(report.schedules)")
            print("integrity:      \(report.integrity.joined(separator: "\n                "))")
            throw ExitCode(report.isHealthy ? 0 : 1)
        } catch let error as StoreError {
            print("cannot check \(PostgresSettings.masked(url)): \(DocketDaemon.describe(error))")
            throw ExitCode(1)
        }
    }

    /// Every connection costs a descriptor: take all the hard limit allows, not the 1024 a
    /// shell's soft limit often leaves.
    func raiseDescriptorLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }

    func makeConfiguration() throws -> ServerConfiguration {
        var configuration = ServerConfiguration(
            socketPath: socket ?? DefaultPaths.socket(), databasePath: db ?? DefaultPaths.database())
        if PostgresSettings.isPostgresURL(configuration.databasePath) {
            do {
                configuration.postgres = try PostgresSettings(
                    url: configuration.databasePath, environment: DefaultPaths.environment("PGPASSWORD").map { ["PGPASSWORD": $0] } ?? [:])
            } catch {
                throw ValidationError("--db: \(DocketDaemon.describe(error))")
            }
        }
        configuration.synchronous = sync
        guard (1024...(64 << 20)).contains(maxLineBytes) else {
            throw ValidationError("--max-line-bytes must be between 1024 and 67108864")
        }
        configuration.limits.maxLineBytes = maxLineBytes
        guard let mode = UInt32(socketMode, radix: 8), mode <= 0o777 else {
            throw ValidationError("--socket-mode must be an octal mode such as 0660, not \(socketMode)")
        }
        configuration.socketMode = mode
        configuration.socketGroup = try socketGroup.map(Accounts.gid)
        configuration.access = AccessPolicy(
            uids: Set(try allowUid.map(Accounts.uid)), gids: Set(try allowGid.map(Accounts.gid)))
        configuration.retention = Retention(
            periods: try [
                (JobState.completed, retainCompleted ?? retain, "--retain-completed"),
                (.cancelled, retainCancelled ?? retain, "--retain-cancelled"),
                (.failed, retainFailed, "--retain-failed"),
            ].compactMap { state, text, flag in
                if text == "forever" { return nil }
                guard let milliseconds = DurationText.milliseconds(text) else {
                    throw ValidationError("\(flag) must be a duration such as 30m, 12h or 7d, or 'forever', not \(text)")
                }
                return (state, milliseconds)
            })
        configuration.metricsListen = try metricsListen.map(MetricsListenAddress.init(parsing:))
        configuration.inheritedSockets = try Systemd.inheritedSockets()
        if let stall = DefaultPaths.environment("DOCKETD_TEST_STALL_WRITER_AFTER_MS") {
            configuration.stallWriterAfterMs = UInt64(stall)
        }
        return configuration
    }
}

/// Users and groups given by name or number.
enum Accounts {
    static func uid(_ text: String) throws -> UInt32 {
        if let number = UInt32(text) { return number }
        guard let entry = getpwnam(text) else { throw ValidationError("no user named \(text)") }
        return entry.pointee.pw_uid
    }

    static func gid(_ text: String) throws -> UInt32 {
        if let number = UInt32(text) { return number }
        guard let entry = getgrnam(text) else { throw ValidationError("no group named \(text)") }
        return entry.pointee.gr_gid
    }
}

extension SQLiteJobStore.Synchronous: ExpressibleByArgument {}
extension Logger.Level: @retroactive ExpressibleByArgument {}
