import DocketClient
import DocketProtocol
import DocketTestSupport
import Foundation

/// A real `docketd` with a notify socket of the test's own, in a temporary folder that the
/// unprivileged users of the access tests can reach.
///
/// `activated` starts it the way systemd does, through `systemd-socket-activate`, which
/// binds the sockets, waits for the first connection and then execs docketd in its own
/// process (so the pid the test holds is docketd's). `standalone` starts docketd itself.
final class Docketd: @unchecked Sendable {
    let folder: URL
    /// The read-write socket.
    let socketPath: String
    let databasePath: String
    let notify: NotifySocket
    let child: Child

    /// The `docketd` that `swift build` put next to this test bundle.
    static var executable: URL {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("docketd")
    }

    /// The package's root folder, for `contrib/`.
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    private init(folder: URL, socketPath: String, notify: NotifySocket, child: Child) {
        self.folder = folder
        self.socketPath = socketPath
        self.databasePath = folder.appendingPathComponent("d.db").path
        self.notify = notify
        self.child = child
    }

    /// Under `systemd-socket-activate`: one read-write socket, `d.sock`, and for each name in
    /// `extraSockets` one more, `<name>.sock`, passed with that `FileDescriptorName`.
    /// docketd starts only at the first connection. `wrapper` goes before docketd's command
    /// line, and must exec docketd in its own process.
    static func activated(
        extraSockets: [String] = [], datagram: Bool = false, environment: [String: String] = [:], wrapper: [String] = []
    ) throws -> Docketd {
        let folder = try makeFolder()
        let socket = folder.appendingPathComponent("d.sock").path
        let notify = try NotifySocket(path: folder.appendingPathComponent("n.sock").path)
        var launcher = datagram ? ["--datagram"] : []
        launcher += ["--listen=\(socket)"] + extraSockets.map { "--listen=\(folder.appendingPathComponent("\($0).sock").path)" }
        launcher.append("--fdname=" + (["docket"] + extraSockets).joined(separator: ":"))
        launcher += (["NOTIFY_SOCKET": notify.path].merging(environment) { $1 }).sorted { $0.key < $1.key }
            .map { "--setenv=\($0.key)=\($0.value)" }
        let child = try launch(
            ["/usr/bin/systemd-socket-activate"] + launcher + wrapper
                + [executable.path, "--db", folder.appendingPathComponent("d.db").path],
            environment: ProcessInfo.processInfo.environment, folder: folder)
        let daemon = Docketd(folder: folder, socketPath: socket, notify: notify, child: child)
        // The socket file exists a moment before it listens; the launcher says when it does.
        let last = extraSockets.last.map(daemon.path(ofSocket:)) ?? socket
        try daemon.waitForLog("Listening on \(last) as ")
        return daemon
    }

    /// docketd binding its own socket (`d.sock` unless `socket` says otherwise), as root or,
    /// with `uid`, as that user and group; returns once READY=1 has arrived.
    static func standalone(arguments: [String] = [], socket: String = "d.sock", uid: UInt32? = nil) async throws
        -> Docketd
    {
        let folder = try makeFolder()
        let socketPath = folder.appendingPathComponent(socket).path
        let notify = try NotifySocket(path: folder.appendingPathComponent("n.sock").path)
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = notify.path
        var command = [executable.path, "--socket", socketPath, "--db", folder.appendingPathComponent("d.db").path]
        if let uid {
            guard chown(folder.path, uid, uid) == 0 else { throw TestFailure("chown \(folder.path): errno \(errno)") }
            command = asUser(uid, gid: uid) + command
        }
        let child = try launch(command + arguments, environment: environment, folder: folder)
        let daemon = Docketd(folder: folder, socketPath: socketPath, notify: notify, child: child)
        try await daemon.waitForReady()
        return daemon
    }

    deinit {
        if child.exitStatus == nil {
            kill(child.pid, SIGKILL)
            _ = child.wait()
        }
        notify.close()
        try? FileManager.default.removeItem(at: folder)
    }

    /// Short (a socket path must fit in 108 bytes), unique across the XCTest and Swift Testing
    /// processes, and open to every user: the access tests connect as nobody.
    private static func makeFolder() throws -> URL {
        let folder = URL(fileURLWithPath: "/tmp/dks-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        return folder
    }

    private static func launch(_ arguments: [String], environment: [String: String], folder: URL) throws -> Child {
        let log = folder.appendingPathComponent("docketd.log").path
        guard FileManager.default.createFile(atPath: log, contents: nil) else { throw TestFailure("cannot create \(log)") }
        return try Child(arguments, environment: environment, output: log)
    }

    var log: String {
        (try? String(contentsOf: folder.appendingPathComponent("docketd.log"), encoding: .utf8)) ?? ""
    }

    func path(ofSocket name: String) -> String { folder.appendingPathComponent("\(name).sock").path }

    private func waitForLog(_ text: String) throws {
        let deadline = Date().addingTimeInterval(20)
        while !log.contains(text) {
            guard child.exitStatus == nil, Date() < deadline else {
                throw TestFailure("no \"\(text)\" in the log:\n\(log)")
            }
            usleep(10_000)
        }
    }

    @discardableResult
    func waitForReady() async throws -> NotifySocket.Message {
        do {
            return try await notify.waitFor(line: "READY=1")
        } catch {
            throw TestFailure("\(error)\nlog:\n\(log)")
        }
    }

    func connect(_ socket: String? = nil) async throws -> DocketConnection {
        try await DocketConnection.connect(socketPath: socket ?? socketPath)
    }

    /// The exit status, once docketd has ended by itself.
    func exitStatus(timeout: Duration = .seconds(20)) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let status = child.exitStatus { return status }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    /// Sends a signal and waits for the exit status.
    @discardableResult
    func stop(signal: Int32 = SIGTERM) -> Int32 {
        kill(child.pid, signal)
        return child.wait()
    }
}

/// A daemon (or a wrapper that execs one) with standard output and error appended to a log
/// file, standard input empty, and none of the test's other descriptors: a daemon holding a
/// pipe of a command the test runs would keep that command's output open. Statuses are the
/// shell's: 128 + the signal when one ended it.
final class Child: Sendable {
    private let process = SpawnedProcess()

    init(_ arguments: [String], environment: [String: String], output: String) throws {
        let log = open(output, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard log >= 0 else { throw TestFailure("cannot open \(output): \(String(cString: strerror(errno)))") }
        let logHandle = FileHandle(fileDescriptor: log, closeOnDealloc: true)
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.environment = environment
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        process.standardOutput = logHandle
        process.standardError = logHandle
        try process.run()
    }

    var pid: pid_t { process.processIdentifier }

    /// The exit status, or nil while it runs.
    var exitStatus: Int32? { process.isRunning ? nil : shellStatus }

    /// Waits for the end and returns the exit status.
    func wait() -> Int32 {
        process.waitUntilExit()
        return shellStatus
    }

    private var shellStatus: Int32 {
        process.terminatedBySignal ? 128 + process.terminationStatus : process.terminationStatus
    }
}

/// A command line prefix that runs the rest as `uid`:`gid` with exactly `groups` as its
/// supplementary groups. setpriv execs the command, so its pid is the command's.
func asUser(_ uid: UInt32, gid: UInt32, groups: [UInt32] = []) -> [String] {
    ["/usr/bin/setpriv", "--reuid=\(uid)", "--regid=\(gid)"]
        + (groups.isEmpty ? ["--clear-groups"] : ["--groups=" + groups.map(String.init).joined(separator: ",")])
}

struct Finished {
    var status: Int32
    var pid: Int32
    var output: String
    var errors: String
}

/// Runs a command to its end with `input` on its standard input, on a thread of its own so
/// that waiting for it never holds up a thread of the tests' cooperative pool.
func run(_ arguments: [String], input: String = "", environment: [String: String]? = nil) async throws -> Finished {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(with: Result { try runBlocking(arguments, input: input, environment: environment) })
        }
    }
}

private func runBlocking(_ arguments: [String], input: String, environment: [String: String]?) throws -> Finished {
    let process = SpawnedProcess()
    process.executableURL = URL(fileURLWithPath: arguments[0])
    process.arguments = Array(arguments.dropFirst())
    if let environment { process.environment = environment }
    let (stdin, stdout, stderr) = (Pipe(), Pipe(), Pipe())
    process.standardInput = stdin
    process.standardOutput = stdout
    process.standardError = stderr
    try process.run()
    try PipeIO.writeAndClose(input, to: stdin.fileHandleForWriting)
    // Drain stderr alongside stdout: a command blocked on a full pipe would never finish.
    final class Box: @unchecked Sendable { var text = "" }
    let errors = Box()
    let drained = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
        errors.text = PipeIO.readToEnd(stderr.fileHandleForReading)
        drained.signal()
    }
    let output = PipeIO.readToEnd(stdout.fileHandleForReading)
    drained.wait()  // orders the write of errors.text before the read below
    process.waitUntilExit()
    return Finished(
        status: process.terminationStatus, pid: process.processIdentifier,
        output: output, errors: errors.text)
}
