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
}
