import Foundation

/// Starts processes one at a time across the whole test run.
///
/// Foundation's `Process.run()` crashed once inside a memory copy while several suites
/// started processes in parallel (on a CI run here); every test target starts its
/// processes through this one lock, so no two launches overlap.
public enum ProcessLauncher {
    private static let lock = NSLock()

    public static func run(_ process: Process) throws {
        try lock.withLock { try process.run() }
    }
}
