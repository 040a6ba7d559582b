/// RFC 3339 timestamps in UTC with milliseconds, from and to milliseconds since the Unix epoch.
///
/// Hand-written (Howard Hinnant's civil-date algorithms) so the protocol module stays free of
/// Foundation and formatting costs a few dozen instructions per timestamp.
public enum Timestamp {
    /// Formats as `2026-11-23T06:00:00.000Z`.
    /// Times outside `representable` are clamped to its ends.
    public static func format(milliseconds: Int64) -> String {
        var out = [UInt8]()
        out.reserveCapacity(24)
        append(milliseconds: milliseconds, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the formatted time to `out`, without allocating (responses carry several).
    public static func append(milliseconds: Int64, to out: inout [UInt8]) {
        let clamped = min(max(milliseconds, representable.lowerBound), representable.upperBound)
        let (days, msOfDay) = floorDivide(clamped, 86_400_000)
        let (year, month, day) = civil(fromDays: days)
        appendDigits(&out, year, width: 4)
        out.append(UInt8(ascii: "-"))
        appendDigits(&out, month, width: 2)
        out.append(UInt8(ascii: "-"))
        appendDigits(&out, day, width: 2)
        out.append(UInt8(ascii: "T"))
        appendDigits(&out, msOfDay / 3_600_000, width: 2)
        out.append(UInt8(ascii: ":"))
        appendDigits(&out, msOfDay / 60_000 % 60, width: 2)
        out.append(UInt8(ascii: ":"))
        appendDigits(&out, msOfDay / 1000 % 60, width: 2)
        out.append(UInt8(ascii: "."))
        appendDigits(&out, msOfDay % 1000, width: 3)
        out.append(UInt8(ascii: "Z"))
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; `nil` when the text is not that.
    /// Fractions beyond milliseconds are truncated.
    public static func parse(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        var i = 0
        func number(_ width: Int) -> Int64? {
            guard i + width <= b.count else { return nil }
            var value: Int64 = 0
            for _ in 0..<width {
                let c = b[i]
                guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int64(c - UInt8(ascii: "0"))
                i += 1
            }
            return value
        }
        func expect(_ chars: String) -> Bool {
            guard i < b.count, chars.utf8.contains(b[i]) else { return false }
            i += 1
            return true
        }
        guard let year = number(4), expect("-"), let month = number(2), expect("-"), let day = number(2),
            expect("Tt "), let hour = number(2), expect(":"), let minute = number(2), expect(":"),
            let second = number(2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year),
            hour < 24, minute < 60, second < 60
        else { return nil }
        var millis: Int64 = 0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var digits = 0
            while i < b.count, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") {
                if digits < 3 { millis = millis * 10 + Int64(b[i] - UInt8(ascii: "0")) }
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<max(digits, 3) { millis *= 10 }
        }
        var offsetMinutes: Int64 = 0
        if expect("Zz") {
            offsetMinutes = 0
        } else if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            let sign: Int64 = b[i] == UInt8(ascii: "-") ? -1 : 1
            i += 1
            guard let hours = number(2), expect(":"), let minutes = number(2), hours < 24, minutes < 60 else {
                return nil
            }
            offsetMinutes = sign * (hours * 60 + minutes)
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        let days = days(fromCivil: year, month, day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetMinutes * 60
        let milliseconds = seconds * 1000 + millis
        // An offset can push a time just outside the years that can be written back.
        return representable.contains(milliseconds) ? milliseconds : nil
    }

    /// 0000-01-01T00:00:00.000Z through 9999-12-31T23:59:59.999Z: what four-digit years hold.
    public static let representable: ClosedRange<Int64> = -62_167_219_200_000...253_402_300_799_999

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date.
    public static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The proleptic Gregorian date of a day count since 1970-01-01.
    public static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func floorDivide(_ value: Int64, _ divisor: Int64) -> (Int64, Int64) {
        var quotient = value / divisor
        var remainder = value % divisor
        if remainder < 0 {
            quotient -= 1
            remainder += divisor
        }
        return (quotient, remainder)
    }

    /// Appends `value` (not negative) in exactly `width` digits, zero-padded.
    private static func appendDigits(_ out: inout [UInt8], _ value: Int64, width: Int) {
        var divisor: Int64 = 1
        for _ in 1..<width { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            out.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
            rest %= divisor
            divisor /= 10
        }
    }
}
