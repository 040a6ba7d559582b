#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The source of "now" for every deadline: lease expiry, backoff, run_at, claim waits.
/// Injected so tests move time by hand instead of sleeping.
public protocol WallClock: Sendable {
    /// Milliseconds since the Unix epoch.
    func now() -> Int64
}

/// The real time of day (`CLOCK_REALTIME`), since stored deadlines are wall-clock times.
public struct SystemClock: WallClock {
    public init() {}

    public func now() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }
}

/// A clock that moves only when told to.
public final class ManualClock: WallClock {
    private let current: Atomic<Int64>

    public init(_ start: Int64 = 1_795_000_000_000) {
        current = Atomic(start)
    }

    public func now() -> Int64 { current.load(ordering: .relaxed) }

    public func advance(by milliseconds: Int64) {
        current.add(milliseconds, ordering: .relaxed)
    }
}
