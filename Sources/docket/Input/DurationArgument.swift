import ArgumentParser
import DocketProtocol

/// A duration on the command line, as `DurationText` reads it: `250ms`, `30s`, `5m`, `2h`,
/// `1d`, sums like `1m30s`; a bare number is seconds, as for sleep(1).
struct DurationArgument: ExpressibleByArgument, Sendable, CustomStringConvertible {
    let milliseconds: Int64
    let description: String

    var duration: Duration { .milliseconds(milliseconds) }

    init(milliseconds: Int64, _ text: String) {
        self.milliseconds = milliseconds
        description = text
    }

    init?(argument: String) {
        guard let milliseconds = DurationText.milliseconds(argument) else { return nil }
        self.init(milliseconds: milliseconds, argument)
    }

    /// `milliseconds` in the largest unit that states it exactly, as it would be typed:
    /// `1m`, `90s`, `250ms`.
    static func text(_ milliseconds: Int64) -> String {
        for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] where milliseconds % size == 0 {
            return "\(milliseconds / size)\(unit)"
        }
        return "\(milliseconds)ms"
    }
}
