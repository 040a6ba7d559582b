import ArgumentParser

/// A duration on the command line: `250ms`, `30s`, `5m`, `2h`, `1d`, or sums like `1m30s`;
/// a bare number is seconds, as for sleep(1).
struct DurationArgument: ExpressibleByArgument, Sendable, CustomStringConvertible {
    let duration: Duration
    let description: String

    init(_ duration: Duration, _ text: String) {
        self.duration = duration
        description = text
    }

    init?(argument: String) {
        let units: [(suffix: String, milliseconds: Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        if let seconds = Int64(argument) {
            self.init(.seconds(seconds), argument)
            return
        }
        var total: Int64 = 0
        var rest = Substring(argument)
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard let amount = Int64(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            // "ms" comes before "m" in `units`, so 500ms is not read as 500 minutes and an "s".
            guard let unit = units.first(where: { rest.hasPrefix($0.suffix) }) else { return nil }
            let (product, overflow) = amount.multipliedReportingOverflow(by: unit.milliseconds)
            guard !overflow else { return nil }
            total += product
            rest = rest.dropFirst(unit.suffix.count)
        }
        guard !argument.isEmpty else { return nil }
        self.init(.milliseconds(total), argument)
    }

    static var defaultCompletionKind: CompletionKind { .default }
}
