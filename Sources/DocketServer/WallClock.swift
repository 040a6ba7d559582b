#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The source of "now" for every deadline: lease expiry, backoff, run_at, claim waits.
/// The writer and `stats` read it; the coordinator takes `now` as an argument, which is how its
/// tests move time by hand instead of sleeping.
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
