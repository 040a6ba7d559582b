import Dispatch
import NIOCore
import Synchronization

/// When the piece of work in progress on one thread started, for the watchdog on another: a
/// thread stuck inside one piece of work (a disk that no longer answers, a lock that is never
/// released) shows as busy for too long, and systemd should restart the daemon.
final class BusyWatch: Sendable {
    /// Monotonic ns; 0 while idle.
    private let since = Atomic<UInt64>(0)

    /// Runs `work`, counted as busy throughout.
    func during<Result>(_ work: () throws -> Result) rethrows -> Result {
        since.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
        defer { since.store(0, ordering: .relaxed) }
        return try work()
    }

    /// False when the work in progress has taken longer than `limit`.
    func isMakingProgress(limit: TimeAmount) -> Bool {
        let started = since.load(ordering: .relaxed)
        return started == 0 || Int64(DispatchTime.now().uptimeNanoseconds &- started) < limit.nanoseconds
    }
}
