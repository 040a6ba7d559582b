import DocketProtocol
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A command `docket work` runs for a job, in a process group of its own.
///
/// File descriptors the child gets:
///
/// | fd | what |
/// |---|---|
/// | 0 | the job's payload, then end of file |
/// | 1 | captured: the job's result |
/// | 2 | passed through to docket's standard error; the last 4 KiB are kept for the failure |
/// | 3 | progress: each line written here is reported (see ``Work``) |
///
/// The child leads its own process group so that stopping it also stops whatever it started
/// (`sh -c` runs its commands as children), and so that a Ctrl-C meant for `docket work`
/// reaches docket, which decides how to stop jobs, rather than every job directly.
final class ChildProcess: Sendable {
    let pid: pid_t
    /// Set once the child has exited and its output is read.
    let outcome = OneShot<Outcome>()

    struct Outcome: Sendable {
        var termination: Termination
        /// The first `stdoutLimit` bytes of standard output.
        var stdout: [UInt8]
        /// All bytes written to standard output, kept or not.
        var stdoutBytes: Int
        var stderrTail: [UInt8]
    }

    enum Termination: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)
    }

    static let stdoutLimit = 256 * 1024
    static let stderrTailBytes = 4096
    /// A longer progress line is dropped: it could not be sent as one request anyway.
    static let progressLineLimit = 256 * 1024

    /// Serialises pipe creation and spawning: a pipe is made close-on-exec in a second step,
    /// and a child spawned in between by another job would inherit it and hold it open.
    private static let spawnLock = Mutex(())

    /// Starts `command` (searched in `PATH`) with `environment` as its whole environment.
    ///
    /// - Parameter onProgress: called, on a thread of the child's own, with each line the
    ///   child writes to fd 3 (without its line ending).
    /// - Parameter onOutput: called, on that thread, with each chunk of stdout and stderr.
    init(
        command: [String], environment: [String], stdin: [UInt8], onProgress: @escaping @Sendable (String) -> Void,
        onOutput: @escaping @Sendable (ArraySlice<UInt8>, LogStream) -> Void
    ) throws {
        let (pid, ours) = try Self.spawnLock.withLock { _ in try Self.spawn(command: command, environment: environment) }
        self.pid = pid
        let outcome = outcome
        // A thread of its own: the pump blocks in poll and waitpid, and must not hold one of
        // the cooperative pool's few threads.
        Thread.detachNewThread {
            var pump = Pump(
                pid: pid, stdin: (ours.stdin, stdin), stdout: ours.stdout, stderr: ours.stderr, progress: ours.progress,
                onProgress: onProgress, onOutput: onOutput)
            outcome.set(pump.run())
        }
    }

    /// Signals the child's whole process group.
    func signal(_ signal: Int32) {
        kill(-pid, signal)
    }

    /// SIGTERM, then SIGKILL if the child has not exited after `grace`.
    func stop(grace: Duration) async -> Outcome? {
        signal(SIGTERM)
        if let done = await outcome.wait(timeout: grace) { return done }
        signal(SIGKILL)
        return await outcome.wait()
    }

    private struct ParentEnds {
        var stdin, stdout, stderr, progress: Int32
    }

    private static func spawn(command: [String], environment: [String]) throws -> (pid_t, ParentEnds) {
        // [read, write] for each; the child gets one end, docket keeps the other.
        let pipes = try (0..<4).map { _ in try makePipe() }
        let childEnds: [Int32] = [pipes[0][0], pipes[1][1], pipes[2][1], pipes[3][1]]
        let parentEnds = ParentEnds(stdin: pipes[0][1], stdout: pipes[1][0], stderr: pipes[2][0], progress: pipes[3][0])
        defer { childEnds.forEach { close($0) } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, end) in childEnds.enumerated() { posix_spawn_file_actions_adddup2(&actions, end, Int32(target)) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)
        // docket ignores SIGPIPE and handles SIGTERM and SIGINT itself; the command gets the defaults.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGTERM, SIGINT, SIGHUP] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = command.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let status = posix_spawnp(&pid, command[0], &actions, &attributes, argv, envp)
        guard status == 0 else {
            [parentEnds.stdin, parentEnds.stdout, parentEnds.stderr, parentEnds.progress].forEach { close($0) }
            throw CommandFailure(.failure, "cannot run \(command[0]): \(String(cString: strerror(status)))")
        }
        return (pid, parentEnds)
    }

    private static func makePipe() throws -> [Int32] {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw CommandFailure(.failure, "cannot make a pipe: \(String(cString: strerror(errno)))") }
        // Above 3, so that no end is already the number it is dup'ed to in the child: dup2 of
        // a descriptor onto itself would leave it close-on-exec.
        return ends.map { end in
            let moved = fcntl(end, F_DUPFD_CLOEXEC, 4)
            close(end)
            return moved
        }
    }
}
