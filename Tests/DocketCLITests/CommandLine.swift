import DocketTestSupport
import Foundation

/// The built `docket`, run as a user would run it, against one daemon.
struct CommandLine {
    let socketPath: String
    /// Fixes "now" for relative times (`$DOCKET_NOW`).
    var now: String?

    struct Run {
        let status: Int32
        let stdout: String
        let stderr: String

        var lines: [String] { stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init) }
    }

    /// Runs `docket ARGUMENTS` to its end. Output goes to files rather than pipes, so a
    /// command that writes a lot cannot block on a pipe nobody reads yet.
    func run(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) async throws -> Run {
        let process = try start(arguments, stdin: stdin, environment: environment)
        return await process.finish()
    }

    /// Starts `docket ARGUMENTS` and returns at once, for commands that run until stopped.
    func start(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) throws -> RunningCommand {
        try RunningCommand(arguments, stdin: stdin, environment: baseEnvironment.merging(environment) { $1 })
    }

    private var baseEnvironment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["DOCKET_SOCKET"] = socketPath
        environment["DOCKET_NOW"] = now
        environment["NO_COLOR"] = "1"
        return environment
    }
}

/// A `docket` process started by a test.
final class RunningCommand: @unchecked Sendable {
    let process = SpawnedProcess()
    private let folder: URL
    private let exited: AsyncStream<Void>

    init(_ arguments: [String], stdin: String?, environment: [String: String]) throws {
        folder = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("docket-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for name in ["out", "err"] { _ = FileManager.default.createFile(atPath: folder.appendingPathComponent(name).path, contents: nil) }
        process.executableURL = TestDaemon.binaries.appendingPathComponent("docket")
        process.arguments = arguments
        process.environment = environment
        process.standardOutput = try FileHandle(forWritingTo: folder.appendingPathComponent("out"))
        process.standardError = try FileHandle(forWritingTo: folder.appendingPathComponent("err"))
        let input = Pipe()
        process.standardInput = input
        let (exited, continuation) = AsyncStream<Void>.makeStream()
        self.exited = exited
        process.terminationHandler = { _ in continuation.finish() }
        try process.run()
        try PipeIO.writeAndClose(stdin ?? "", to: input.fileHandleForWriting)
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: folder)
    }

    func signal(_ number: Int32) {
        kill(process.processIdentifier, number)
    }

    /// Waits for the exit and returns what the command printed.
    func finish() async -> CommandLine.Run {
        for await _ in exited {}
        return CommandLine.Run(status: process.terminationStatus, stdout: read("out"), stderr: read("err"))
    }

    /// What the command has written so far.
    var stdoutSoFar: String { read("out") }
    var stderrSoFar: String { read("err") }

    private func read(_ name: String) -> String {
        (try? String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)) ?? ""
    }
}
