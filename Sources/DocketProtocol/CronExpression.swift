/// A standard five-field cron expression, evaluated in UTC.
///
/// ```
///  ┌──────── minute        0-59
///  │ ┌────── hour          0-23
///  │ │ ┌──── day of month  1-31
///  │ │ │ ┌── month         1-12 or jan-dec
///  │ │ │ │ ┌ day of week   0-7 or sun-sat (0 and 7 are Sunday)
///  * * * * *
/// ```
/// Each field is `*`, a number, a range `a-b`, a step `*/n` or `a-b/n`, or a comma list of
/// those. As in Vixie cron, when both day fields are restricted a day matches either.
public struct CronExpression: Sendable, Equatable, CustomStringConvertible {
    public let description: String
    let minutes: Set<Int>
    let hours: Set<Int>
    let daysOfMonth: Set<Int>
    let months: Set<Int>
    let daysOfWeek: Set<Int>
    let dayOfMonthRestricted: Bool
    let dayOfWeekRestricted: Bool

    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
    }

    private struct Field {
        let name: String
        let range: ClosedRange<Int>
        let names: [String]
        /// The first value `names` stands for (1 for months, 0 for weekdays).
        let namesStart: Int
    }

    private static let fields = [
        Field(name: "minute", range: 0...59, names: [], namesStart: 0),
        Field(name: "hour", range: 0...23, names: [], namesStart: 0),
        Field(name: "day of month", range: 1...31, names: [], namesStart: 0),
        Field(
            name: "month", range: 1...12,
            names: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], namesStart: 1),
        Field(name: "day of week", range: 0...7, names: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"], namesStart: 0),
    ]

    public init(_ text: String) throws(ParseError) {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard parts.count == 5 else {
            throw ParseError(description: "a cron expression has 5 fields (minute hour day-of-month month day-of-week), not \(parts.count)")
        }
        var sets: [Set<Int>] = []
        for (part, field) in zip(parts, Self.fields) {
            sets.append(try Self.parse(String(part).lowercased(), field))
        }
        description = parts.joined(separator: " ")
        minutes = sets[0]
        hours = sets[1]
        daysOfMonth = sets[2]
        months = sets[3]
        daysOfWeek = Set(sets[4].map { $0 % 7 })
        dayOfMonthRestricted = !parts[2].hasPrefix("*")
        dayOfWeekRestricted = !parts[4].hasPrefix("*")
        guard next(after: 0) != nil else {
            throw ParseError(description: "the day-of-month and month fields never meet (such as 30 in February): the schedule would never fire")
        }
    }

    private static func parse(_ text: String, _ field: Field) throws(ParseError) -> Set<Int> {
        var values = Set<Int>()
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = item.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw invalid(field, String(item), "more than one '/'") }
            var step = 1
            if pieces.count == 2 {
                guard let number = Int(pieces[1]), number >= 1, number <= field.range.upperBound + 1 else {
                    throw invalid(field, String(item), "the step must be a number from 1 to \(field.range.upperBound + 1)")
                }
                step = number
            }
            let base = String(pieces[0])
            var range: ClosedRange<Int>
            if base == "*" {
                range = field.range
            } else if let dash = base.firstIndex(of: "-") {
                let low = try value(String(base[..<dash]), field)
                let high = try value(String(base[base.index(after: dash)...]), field)
                guard low <= high else { throw invalid(field, String(item), "the range runs backwards") }
                range = low...high
            } else {
                let single = try value(base, field)
                // `5/15` means from 5 to the end in steps of 15, as in Vixie cron.
                range = pieces.count == 2 ? single...field.range.upperBound : single...single
            }
            values.formUnion(stride(from: range.lowerBound, through: range.upperBound, by: step))
        }
        return values
    }

    private static func value(_ text: String, _ field: Field) throws(ParseError) -> Int {
        if let index = field.names.firstIndex(of: text) { return index + field.namesStart }
        guard let number = Int(text), field.range.contains(number) else {
            throw invalid(field, text, "expected a number from \(field.range.lowerBound) to \(field.range.upperBound)" + (field.names.isEmpty ? "" : " or a name such as \(field.names[0])"))
        }
        return number
    }

    private static func invalid(_ field: Field, _ item: String, _ reason: String) -> ParseError {
        ParseError(description: "invalid \(field.name) field \"\(item)\": \(reason)")
    }

    /// The first minute strictly after `milliseconds` (since the epoch) that matches, or `nil`
    /// when none does within the next 400 years (only for expressions that never match).
    public func next(after milliseconds: Int64) -> Int64? {
        var minute = Timestamp.floorDivide(milliseconds, 60_000).0 + 1
        let limit = minute + 400 * 366 * 1440
        while minute < limit {
            let (day, minuteOfDay) = Timestamp.floorDivide(minute, 1440)
            let (year, month, dayOfMonth) = Timestamp.civil(fromDays: day)
            if !months.contains(Int(month)) {
                // Jump to the first day of the next month.
                let nextMonth = month == 12 ? (year + 1, Int64(1)) : (year, month + 1)
                minute = Timestamp.days(fromCivil: nextMonth.0, nextMonth.1, 1) * 1440
                continue
            }
            if !matchesDay(dayOfMonth: Int(dayOfMonth), weekday: Int(Timestamp.floorDivide(day + 4, 7).1)) {
                minute = (day + 1) * 1440
                continue
            }
            if !hours.contains(Int(minuteOfDay / 60)) {
                minute = day * 1440 + (minuteOfDay / 60 + 1) * 60
                continue
            }
            if !minutes.contains(Int(minuteOfDay % 60)) {
                minute += 1
                continue
            }
            return minute * 60_000
        }
        return nil
    }

    private func matchesDay(dayOfMonth: Int, weekday: Int) -> Bool {
        // Vixie cron: a day field starting with `*` (`*` or `*/2`) makes both fields apply
        // together; only when both are restricted does either one suffice.
        let inMonth = daysOfMonth.contains(dayOfMonth)
        let inWeek = daysOfWeek.contains(weekday)
        return dayOfMonthRestricted && dayOfWeekRestricted ? inMonth || inWeek : inMonth && inWeek
    }
}
