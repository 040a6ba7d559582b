import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The store backends a test can run against, as River's driver suite picks its drivers:
/// every test that is not about one backend runs once per backend available.
public enum Backend: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite
    case postgresql

    public var description: String { rawValue }

    /// SQLite always; PostgreSQL when a server can be had (see `TestPostgres`).
    public static var available: [Backend] {
        TestPostgres.server == nil ? [.sqlite] : [.sqlite, .postgresql]
    }
}

/// The PostgreSQL server the tests use, and a fresh database on it for each test.
///
/// `DOCKET_TEST_POSTGRES` names a running server (`.ci/run` starts one); without it, a
/// throwaway cluster is started for this test process when PostgreSQL is installed, and
/// stopped when the process exits. With `DOCKET_TEST_REQUIRE_POSTGRES=1` (CI) a missing
/// server is an error instead of a skipped backend.
public enum TestPostgres {
    /// A URL of the server's maintenance database, or nil when there is no server.
    public static let server: String? = {
        // DOCKET_TEST_BACKENDS=sqlite: SQLite alone (a quick run while working on something else).
        if ProcessInfo.processInfo.environment["DOCKET_TEST_BACKENDS"] == "sqlite" { return nil }
        if let url = ProcessInfo.processInfo.environment["DOCKET_TEST_POSTGRES"], !url.isEmpty { return url }
        let url = startCluster()
        if url == nil, ProcessInfo.processInfo.environment["DOCKET_TEST_REQUIRE_POSTGRES"] == "1" {
            fatalError("DOCKET_TEST_REQUIRE_POSTGRES=1 but no PostgreSQL server could be had: set DOCKET_TEST_POSTGRES")
        }
        return url
    }()

    /// A new, empty store and its URL: a schema of its own in this process's test database
    /// (`options=-c search_path=…`), since creating a database per test cost more than most
    /// tests themselves.
    public static func newStore() throws -> String {
        let database = try testDatabase.get()
        let schema = "t_\(UUID().uuidString.prefix(8).lowercased())"
        try psql(database, "CREATE SCHEMA \(schema)")
        return database + (database.contains("?") ? "&" : "?") + "options=-c%20search_path%3D\(schema)"
    }

    /// Drops a store made by `newStore`.
    public static func dropStore(_ url: String) {
        guard let range = url.range(of: "search_path%3D") else { return }
        let schema = url[range.upperBound...].prefix { $0 != "&" }
        try? psql(String(url[..<url.range(of: "options=")!.lowerBound].dropLast()), "DROP SCHEMA IF EXISTS \(schema) CASCADE")
    }

    /// This process's database for the tests' stores, made at first use.
    private static let testDatabase = Result { () throws -> String in
        guard let server else { throw TestPostgresError("no PostgreSQL server for this test") }
        let name = "docket_tests_\(getpid())"
        try psql(server, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        try psql(server, "CREATE DATABASE \(name)")
        return url(server, database: name)
    }

    /// Runs SQL through the real `psql` and returns what it printed (unaligned, no headers).
    @discardableResult
    public static func psql(_ url: String, _ sql: String) throws -> String {
        let process = SpawnedProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        process.arguments = ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", url, "-c", sql]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = PipeIO.readToEnd(pipe.fileHandleForReading)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestPostgresError("psql \(sql): \(output)") }
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `url` with its database name replaced.
    static func url(_ server: String, database: String) -> String {
        guard let schemeEnd = server.range(of: "://") else { return server }
        let afterScheme = server[schemeEnd.upperBound...]
        let pathStart = afterScheme.firstIndex(of: "/") ?? afterScheme.firstIndex(of: "?") ?? afterScheme.endIndex
        let queryStart = server[pathStart...].firstIndex(of: "?") ?? server.endIndex
        return String(server[..<pathStart]) + "/" + database + String(server[queryStart...])
    }

    nonisolated(unsafe) private static var sharedCluster: Cluster?

    /// A cluster for this process's tests, stopped when the process exits; nil when
    /// PostgreSQL is not installed.
    private static func startCluster() -> String? {
        // Not durable: no test crashes this server, and flushing every test database's
        // creation stalled the other tests' fsyncs.
        guard let cluster = try? Cluster(durable: false) else { return nil }
        sharedCluster = cluster
        atexit { TestPostgres.sharedCluster?.remove() }
        return cluster.url
    }

    /// A throwaway PostgreSQL cluster in a folder of its own, which a test may stop, start
    /// and restart (the faults of a database server).
    public final class Cluster: @unchecked Sendable {
        public let folder: String
        public let port: Int
        /// The URL of its `postgres` database.
        public var url: String { "postgresql://postgres@/postgres?host=\(folder)&port=\(port)" }
        private let pgctl: String
        private let asPostgres: [String]

        nonisolated(unsafe) private static var nextPort = 20000 + Int(getpid() % 10000) * 3
        private static let portLock = NSLock()

        public static var isAvailable: Bool { binaries != nil }

        /// initdb and pg_ctl of the newest PostgreSQL installed, as Debian lays them out.
        private static var binaries: URL? {
            let root = URL(fileURLWithPath: "/usr/lib/postgresql")
            let versions = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
            return versions.compactMap(Int.init).sorted().last.map { root.appendingPathComponent("\($0)/bin") }
                .flatMap { FileManager.default.fileExists(atPath: $0.appendingPathComponent("initdb").path) ? $0 : nil }
        }

        /// Whether the server flushes its WAL (`fsync`): a cluster a test crashes must.
        private let durable: Bool

        public init(durable: Bool = true) throws {
            self.durable = durable
            guard let binaries = Self.binaries else { throw TestPostgresError("PostgreSQL is not installed") }
            port = Self.portLock.withLock {
                defer { Self.nextPort += 1 }
                return Self.nextPort
            }
            folder = "/tmp/docket-pg-\(getpid())-\(port)"
            try? FileManager.default.removeItem(atPath: folder)
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            // initdb refuses to run as root: the cluster belongs to the postgres user then.
            asPostgres = getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] : []
            if getuid() == 0, let entry = getpwnam("postgres") { chown(folder, entry.pointee.pw_uid, entry.pointee.pw_gid) }
            pgctl = binaries.appendingPathComponent("pg_ctl").path
            guard TestPostgres.run(asPostgres + [binaries.appendingPathComponent("initdb").path, "-D", "\(folder)/data", "-A", "trust", "-U", "postgres"])
            else { throw TestPostgresError("initdb failed in \(folder)") }
            try start()
        }

        public func start() throws {
            let options =
                "-p \(port) -k \(folder) -c listen_addresses='' -c max_connections=400 -c shared_buffers=64MB"
                + (durable ? "" : " -c fsync=off -c full_page_writes=off")
            guard TestPostgres.run(asPostgres + [pgctl, "-D", "\(folder)/data", "-l", "\(folder)/log", "-w", "-o", options, "start"])
            else { throw TestPostgresError("the cluster in \(folder) did not start") }
        }

        /// `immediate` is a crash: every backend is killed and the next start recovers.
        public func stop(immediate: Bool = true) {
            TestPostgres.run(asPostgres + [pgctl, "-D", "\(folder)/data", "-m", immediate ? "immediate" : "fast", "-w", "stop"])
        }

        /// Stops the cluster and deletes its folder.
        public func remove() {
            stop()
            try? FileManager.default.removeItem(atPath: folder)
        }

        deinit { remove() }
    }

    @discardableResult
    static func run(_ command: [String]) -> Bool {
        let process = SpawnedProcess()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        guard (try? process.run()) != nil else { return false }
        _ = PipeIO.readToEnd(pipe.fileHandleForReading)
        process.waitUntilExit()
        return process.terminationStatus == 0
    }
}

public struct TestPostgresError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Runs blocking work (a child process, a database server starting) on a thread of its own,
/// not on one of the two threads of Swift's cooperative pool: a test that blocks those stalls
/// every other test of the run.
public func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}
