import DocketClient
import DocketProtocol
import DocketTestSupport
import Foundation

/// A real `docketd` on a socket and database in a temporary folder of its own.
final class TestDaemon: @unchecked Sendable {
    let folder: URL
    let socketPath: String
    let databasePath: String
    private(set) var process: SpawnedProcess

    /// The folder `swift test` built the executables into, next to this test bundle.
    static let binaries = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()

    /// Starts a daemon and returns once it answers `ping`.
    init() async throws {
        // Short: a Unix socket path must fit in 108 bytes.
        folder = URL(fileURLWithPath: "/tmp/dkc-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        socketPath = folder.appendingPathComponent("d.sock").path
        databasePath = folder.appendingPathComponent("d.db").path
        process = SpawnedProcess()
        try start()
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: folder)
    }

    private func start() throws {
        let log = folder.appendingPathComponent("docketd.log")
        if !FileManager.default.fileExists(atPath: log.path) { _ = FileManager.default.createFile(atPath: log.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        process = SpawnedProcess()
        process.executableURL = Self.binaries.appendingPathComponent("docketd")
        process.arguments = ["--socket", socketPath, "--db", databasePath]
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    func waitUntilServing() async throws {
        try await process.waitUntilServing(socketPath: socketPath) { log }
    }

    /// A running daemon, ready.
    static func started() async throws -> TestDaemon {
        let daemon = try await TestDaemon()
        try await daemon.waitUntilServing()
        return daemon
    }

    var log: String { (try? String(contentsOf: folder.appendingPathComponent("docketd.log"), encoding: .utf8)) ?? "" }

    /// SIGTERM and wait: the daemon drains and exits.
    func stop() {
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }

    /// Starts the daemon again on the same socket and database.
    func restart() async throws {
        try start()
        try await waitUntilServing()
    }

    func client(reconnect: ReconnectPolicy = .standard) -> DocketClient {
        DocketClient(socketPath: socketPath, reconnect: reconnect)
    }

    /// Whether this daemon serves an op that arrives in parallel work (`watch`, `schedule_*`).
    func serves(_ request: JSONValue) async throws -> Bool {
        let connection = try await DocketConnection.connect(socketPath: socketPath)
        let answer = try await connection.send(request)
        await connection.close()
        return answer["error"]?["code"] != "unknown_op"
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
