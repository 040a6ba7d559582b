import DocketClient
import DocketProtocol
import DocketTestSupport
import Foundation

/// A real `docketd` process on a socket and database in a temporary folder of its own.
final class Daemon: @unchecked Sendable {
    let folder: URL
    let socketPath: String
    /// The SQLite file, or the URL of the PostgreSQL database.
    let databasePath: String
    let backend: Backend
    /// Whether this daemon made its PostgreSQL database (and drops it at the end).
    private let ownsDatabase: Bool
    let extraArguments: [String]
    /// A shell line run before docketd (`ulimit -n 64`, say); docketd then replaces the shell.
    let prelude: String?
    private(set) var process: SpawnedProcess
    private var logHandle: FileHandle

    /// The `docketd` that `swift test` built, next to this test bundle.
    static var executable: URL {
        let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return me.deletingLastPathComponent().appendingPathComponent("docketd")
    }

    static func makeFolder(_ name: String = "e2e") throws -> URL {
        // Short paths: a Unix socket path must fit in 108 bytes.
        let folder = URL(fileURLWithPath: "/tmp/dk-\(name)-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// Starts a daemon and returns once it answers `ping`. The database is in `databaseFolder`
    /// when given (a file system of a test's own, which the log and socket must not keep busy);
    /// on PostgreSQL it is a new database, or the one of `sharing` (another daemon's).
    init(
        _ backend: Backend = .sqlite, sharing: Daemon? = nil, folder: URL? = nil, databaseFolder: URL? = nil,
        arguments: [String] = [], prelude: String? = nil, postgresURL: String? = nil
    ) async throws {
        self.folder = try folder ?? Self.makeFolder()
        socketPath = self.folder.appendingPathComponent("d.sock").path
        self.backend = postgresURL != nil ? .postgresql : sharing?.backend ?? backend
        if let postgresURL {
            databasePath = postgresURL
            ownsDatabase = false
        } else if let sharing {
            databasePath = sharing.databasePath
            ownsDatabase = false
        } else if self.backend == .postgresql {
            databasePath = try await offload { try TestPostgres.newStore() }
            ownsDatabase = true
        } else {
            databasePath = (databaseFolder ?? self.folder).appendingPathComponent("d.db").path
            ownsDatabase = false
        }
        extraArguments = arguments
        self.prelude = prelude
        (process, logHandle) = try Self.launch(
            folder: self.folder, arguments: ["--socket", socketPath, "--db", databasePath] + arguments, prelude: prelude)
        try await waitUntilServing()
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: folder)
        if ownsDatabase {
            let url = databasePath
            Thread.detachNewThread { TestPostgres.dropStore(url) }
        }
    }

    static func launch(folder: URL, arguments: [String], prelude: String? = nil) throws -> (SpawnedProcess, FileHandle) {
        let logURL = folder.appendingPathComponent("docketd.log")
        if !FileManager.default.fileExists(atPath: logURL.path) {
            _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        }
        let log = try FileHandle(forWritingTo: logURL)
        log.seekToEndOfFile()
        let process = SpawnedProcess()
        if let prelude {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", prelude + "; exec \"$0\" \"$@\"", executable.path] + arguments
        } else {
            process.executableURL = executable
            process.arguments = arguments
        }
        process.standardOutput = log
        process.standardError = log
        try process.run()
        return (process, log)
    }

    /// Runs `docketd` with these arguments to the end (for start-up failures).
    static func runToExit(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = SpawnedProcess()
        process.executableURL = executable
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = PipeIO.readToEnd(pipe.fileHandleForReading)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    var log: String {
        (try? String(contentsOf: folder.appendingPathComponent("docketd.log"), encoding: .utf8)) ?? ""
    }

    func waitUntilServing() async throws {
        try await process.waitUntilServing(socketPath: socketPath) { log }
    }

    /// SIGTERM, then waits for the exit status.
    @discardableResult
    func stop(signal: Int32 = SIGTERM) -> Int32 {
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// `kill -9`: no shutdown at all.
    func crash() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Starts the daemon again on the same socket and database.
    func restart() async throws {
        (process, logHandle) = try Self.launch(
            folder: folder, arguments: ["--socket", socketPath, "--db", databasePath] + extraArguments, prelude: prelude)
        try await waitUntilServing()
    }

    func connect() async throws -> DocketConnection {
        try await DocketConnection.connect(socketPath: socketPath)
    }

    /// The running daemon's threads, by thread id: their names from `/proc` (docketd names
    /// its own threads, `docket-writer` and so on).
    func threadNames() -> [Int32: String] {
        let tasks = "/proc/\(process.processIdentifier)/task"
        var names: [Int32: String] = [:]
        for task in (try? FileManager.default.contentsOfDirectory(atPath: tasks)) ?? [] {
            guard let tid = Int32(task),
                let name = try? String(contentsOfFile: "\(tasks)/\(task)/comm", encoding: .utf8)
            else { continue }
            names[tid] = name.trimmingCharacters(in: .newlines)
        }
        return names
    }
}

struct DaemonFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension DocketConnection {
    /// Sends a request and returns the answer's `job` (or `null`).
    func job(_ request: JSONValue) async throws -> JSONValue {
        let answer = try await send(request)
        guard answer["ok"] == true else { throw DaemonFailure("request failed: \(JSONWriter.text(of: answer))") }
        return answer["job"] ?? .null
    }
}

extension JSONValue {
    var int: Int64? { int64 }
    var errorCode: String? { self["error"]?["code"]?.string }
}
