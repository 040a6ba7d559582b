/// Durations as people type them on command lines: `500ms`, `30s`, `5m`, `12h`, `7d`, or
/// combinations such as `1h30m`. A bare number is seconds.
public enum DurationText {
    private static let units: [(suffix: String, milliseconds: Int64)] = [
        // "ms" before "m", so 500ms is not read as 500 minutes and an "s".
        ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000),
    ]

    /// Milliseconds, or `nil` when the text is not a duration.
    public static func milliseconds(_ text: String) -> Int64? {
        if let seconds = Int64(text) {
            let (product, overflow) = seconds.multipliedReportingOverflow(by: 1000)
            return overflow || seconds < 0 ? nil : product
        }
        guard !text.isEmpty else { return nil }
        var total: Int64 = 0
        var rest = Substring(text)
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard let amount = Int64(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            guard let unit = units.first(where: { rest.hasPrefix($0.suffix) }) else { return nil }
            let (product, overflow) = amount.multipliedReportingOverflow(by: unit.milliseconds)
            let (sum, overflowSum) = total.addingReportingOverflow(product)
            guard !overflow, !overflowSum else { return nil }
            total = sum
            rest = rest.dropFirst(unit.suffix.count)
        }
        return total
    }
}
