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
        if let url = ProcessInfo.processInfo.environment["DOCKET_TEST_POSTGRES"], !url.isEmpty { return url }
        let url = startCluster()
        if url == nil, ProcessInfo.processInfo.environment["DOCKET_TEST_REQUIRE_POSTGRES"] == "1" {
            fatalError("DOCKET_TEST_REQUIRE_POSTGRES=1 but no PostgreSQL server could be had: set DOCKET_TEST_POSTGRES")
        }
        return url
    }()

    /// Creates an empty database and returns its URL.
    public static func createDatabase() throws -> String {
        guard let server else { throw TestPostgresError("no PostgreSQL server for this test") }
        let name = "docket_\(getpid())_\(UUID().uuidString.prefix(8).lowercased())"
        try psql(server, "CREATE DATABASE \(name)")
        return url(server, database: name)
    }

    /// Drops a database made by `createDatabase`, ending any sessions still on it.
    public static func dropDatabase(_ url: String) {
        guard let server, let name = databaseName(url) else { return }
        try? psql(server, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
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

    static func databaseName(_ url: String) -> String? {
        guard let schemeEnd = url.range(of: "://") else { return nil }
        let afterScheme = url[schemeEnd.upperBound...]
        guard let slash = afterScheme.firstIndex(of: "/") else { return nil }
        let name = afterScheme[afterScheme.index(after: slash)...].prefix { $0 != "?" }
        return name.isEmpty ? nil : String(name)
    }

    /// initdb and pg_ctl of the newest PostgreSQL installed, as Debian lays them out.
    private static var binaries: URL? {
        let root = URL(fileURLWithPath: "/usr/lib/postgresql")
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return versions.compactMap(Int.init).sorted().last.map { root.appendingPathComponent("\($0)/bin") }
    }

    /// A throwaway cluster in a folder of this process's own; nil when PostgreSQL is not installed.
    private static func startCluster() -> String? {
        guard let binaries, FileManager.default.fileExists(atPath: binaries.appendingPathComponent("initdb").path) else { return nil }
        let folder = "/tmp/docket-pg-\(getpid())"
        let port = 20000 + Int(getpid() % 20000)
        try? FileManager.default.removeItem(atPath: folder)
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // initdb refuses to run as root: the cluster belongs to the postgres user then.
        let asPostgres = getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] : []
        if getuid() == 0 { chownToPostgres(folder) }
        let initdb = binaries.appendingPathComponent("initdb").path
        let pgctl = binaries.appendingPathComponent("pg_ctl").path
        guard
            run(asPostgres + [initdb, "-D", "\(folder)/data", "-A", "trust", "-U", "postgres"]),
            run(
                asPostgres + [
                    pgctl, "-D", "\(folder)/data", "-l", "\(folder)/log", "-w", "-o",
                    "-p \(port) -k \(folder) -c listen_addresses='' -c max_connections=400 -c shared_buffers=64MB",
                    "start",
                ])
        else { return nil }
        stopCommand = asPostgres + [pgctl, "-D", "\(folder)/data", "-m", "immediate", "stop"]
        clusterFolder = folder
        atexit {
            if let stop = TestPostgres.stopCommand { _ = TestPostgres.run(stop) }
            if let folder = TestPostgres.clusterFolder { try? FileManager.default.removeItem(atPath: folder) }
        }
        return "postgresql://postgres@/postgres?host=\(folder)&port=\(port)"
    }

    nonisolated(unsafe) private static var stopCommand: [String]?
    nonisolated(unsafe) private static var clusterFolder: String?

    private static func chownToPostgres(_ path: String) {
        guard let entry = getpwnam("postgres") else { return }
        chown(path, entry.pointee.pw_uid, entry.pointee.pw_gid)
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
