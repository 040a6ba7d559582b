/// How long ``DocketClient`` keeps trying to reach the daemon again after a connection drops.
///
/// Only requests that are safe to send twice are resent after a drop: reads (`get`, `list`,
/// `stats`, ...), `enqueue` with a `unique_key`, and anything the daemon refused with
/// `shutting_down` (it applied nothing). A change whose answer was lost fails with
/// ``DocketClientError/connectionClosed``, because it may have been applied. The first
/// connection is never retried: a daemon that is not running is reported at once.
public struct ReconnectPolicy: Sendable {
    /// The pause before the first new attempt; it doubles after each failure.
    public var initialDelay: Duration
    /// The longest pause between two attempts.
    public var maxDelay: Duration
    /// The time after which the client stops trying and throws.
    public var giveUpAfter: Duration

    public init(initialDelay: Duration = .milliseconds(50), maxDelay: Duration = .seconds(2), giveUpAfter: Duration = .seconds(30)) {
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.giveUpAfter = giveUpAfter
    }

    /// 50 ms doubling up to 2 s, for 30 s: rides out a daemon restart.
    public static let standard = ReconnectPolicy()

    /// Never resend: every drop is reported to the caller.
    public static let never = ReconnectPolicy(giveUpAfter: .zero)

    /// The pauses of one series of attempts; `nil` once the policy gives up.
    struct Attempts {
        let policy: ReconnectPolicy
        private let start = ContinuousClock.now
        private var delay: Duration

        init(_ policy: ReconnectPolicy) {
            self.policy = policy
            delay = policy.initialDelay
        }

        mutating func nextDelay() -> Duration? {
            guard ContinuousClock.now + delay - start <= policy.giveUpAfter else { return nil }
            defer { delay = min(delay * 2, policy.maxDelay) }
            return delay
        }
    }
}
