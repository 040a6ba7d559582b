import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A child process started with posix_spawn, with the part of Foundation's `Process` API the
/// tests use.
///
/// Foundation's `Process.run()` on Linux crashes now and then (2 test runs in 6 here): to
/// close the descriptors a child should not inherit it lists /proc/self/fd and copies
/// each entry's 256-byte name field whole, reading past the end of glibc's buffer
/// (swift-corelibs-foundation PR 5472). This spawns with `closefrom` instead.
public final class SpawnedProcess: @unchecked Sendable {
    public var executableURL: URL?
    public var arguments: [String] = []
    /// nil: the test's own environment.
    public var environment: [String: String]?
    /// A `Pipe` or a `FileHandle`; nil inherits the test's own.
    public var standardInput: Any?
    public var standardOutput: Any?
    public var standardError: Any?
    /// Called on a thread of its own once the process has ended.
    public var terminationHandler: (@Sendable (SpawnedProcess) -> Void)?
    /// Starts the child with no signal blocked and every signal at its default action, as a
    /// shell would: the test runner's threads block signals, and a child that inherits that
    /// mask (a tmux server, the shell in it) would never hear SIGHUP or SIGTERM.
    public var startsWithDefaultSignals = false

    public private(set) var processIdentifier: pid_t = 0
    private let lock = NSLock()
    private let ended = DispatchSemaphore(value: 0)
    private var status: Int32?
    private var signalled = false

    public init() {}

    /// Whether the process has been started and has not ended.
    public var isRunning: Bool { processIdentifier != 0 && lock.withLock { status == nil } }

    /// The exit status, or the number of the signal that ended it (as `Process` has it).
    public var terminationStatus: Int32 {
        guard let status = lock.withLock({ status }) else { preconditionFailure("the process is still running") }
        return status
    }

    /// Whether a signal ended the process (then `terminationStatus` is its number).
    public var terminatedBySignal: Bool { lock.withLock { signalled } }

    public func waitUntilExit() {
        ended.wait()
        ended.signal()  // for the next caller
    }

    public func run() throws {
        guard let path = executableURL?.path else { throw POSIXError(.ENOENT) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var parentCloses: [FileHandle] = []
        for (descriptor, stream) in [(Int32(0), standardInput), (1, standardOutput), (2, standardError)] {
            switch stream {
            case let pipe as Pipe:
                let childEnd = descriptor == 0 ? pipe.fileHandleForReading : pipe.fileHandleForWriting
                posix_spawn_file_actions_adddup2(&actions, childEnd.fileDescriptor, descriptor)
                parentCloses.append(childEnd)
            case let handle as FileHandle:
                posix_spawn_file_actions_adddup2(&actions, handle.fileDescriptor, descriptor)
            default:
                break
            }
        }
        guard Self.addClosefrom(&actions, 3) == 0 else { throw POSIXError(.EINVAL) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group, as Process does: a signal meant for the test run's group
        // (a terminal's ^C) is not also delivered to it.
        var flags = POSIX_SPAWN_SETPGROUP
        if startsWithDefaultSignals {
            var none = sigset_t()
            sigemptyset(&none)
            posix_spawnattr_setsigmask(&attributes, &none)
            var all = sigset_t()
            sigfillset(&all)
            posix_spawnattr_setsigdefault(&attributes, &all)
            flags |= POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let environment = self.environment ?? ProcessInfo.processInfo.environment
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EINVAL) }
        processIdentifier = pid
        for handle in parentCloses { try? handle.close() }
        Thread.detachNewThread { [self] in reap() }
    }

    private func reap() {
        var raw: Int32 = 0
        while waitpid(processIdentifier, &raw, 0) < 0 {
            guard errno == EINTR else { break }
        }
        let signal = raw & 0x7f
        lock.withLock {
            status = signal == 0 ? (raw >> 8) & 0xff : signal
            signalled = signal != 0
        }
        ended.signal()
        terminationHandler?(self)
    }

    /// glibc (2.34 and later) declares it only for _GNU_SOURCE, which Swift's Glibc module lacks.
    public static let addClosefrom = unsafeBitCast(
        dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addclosefrom_np"),
        to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
}
