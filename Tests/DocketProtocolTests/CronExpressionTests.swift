import DocketProtocol
import Testing

/// The instant a readable RFC 3339 time stands for.
private func instant(_ text: String) throws -> Int64 {
    try #require(Timestamp.parse(text), "not a time: \(text)")
}

/// The next slot of `expression` strictly after `after`, formatted for readable failures.
private func next(_ expression: String, after: String) throws -> String? {
    try CronExpression(expression).next(after: instant(after)).map { Timestamp.format(milliseconds: $0) }
}

@Suite("CronExpression")
struct CronExpressionTests {
    // MARK: next(after:)

    /// Every kind of field, from the first minute after a known instant: the expected next slot.
    @Test(arguments: [
        // Every minute; seconds and milliseconds round up to the next whole minute.
        ("* * * * *", "2026-11-23T10:02:30.000Z", "2026-11-23T10:03:00.000Z"),
        ("* * * * *", "2026-11-23T10:02:59.999Z", "2026-11-23T10:03:00.000Z"),
        // A step from *: 0, 7, …, 56, then the next hour's 00 (not 03).
        ("*/7 * * * *", "2026-11-23T10:50:00.000Z", "2026-11-23T10:56:00.000Z"),
        ("*/7 * * * *", "2026-11-23T10:56:00.000Z", "2026-11-23T11:00:00.000Z"),
        ("*/7 * * * *", "2026-11-23T23:56:00.000Z", "2026-11-24T00:00:00.000Z"),
        // Daily at midnight.
        ("0 0 * * *", "2026-11-23T10:02:30.000Z", "2026-11-24T00:00:00.000Z"),
        // The first of the month: from Jan 31, from a 30-day month's last minute, from February's.
        ("0 0 1 * *", "2026-01-31T12:00:00.000Z", "2026-02-01T00:00:00.000Z"),
        ("0 0 1 * *", "2026-04-30T23:59:00.000Z", "2026-05-01T00:00:00.000Z"),
        ("0 0 1 * *", "2026-02-28T23:59:59.999Z", "2026-03-01T00:00:00.000Z"),
        // The 31st skips 30-day months and February.
        ("0 0 31 * *", "2026-04-01T00:00:00.000Z", "2026-05-31T00:00:00.000Z"),
        ("0 0 31 * *", "2026-01-31T00:00:00.000Z", "2026-03-31T00:00:00.000Z"),
        ("0 0 31 * *", "2026-05-31T00:00:00.000Z", "2026-07-31T00:00:00.000Z"),
        ("0 0 31 * *", "2026-08-31T00:00:00.000Z", "2026-10-31T00:00:00.000Z"),
        // February 29th: only leap years, and 2100 is not one.
        ("0 12 29 2 *", "2025-01-01T00:00:00.000Z", "2028-02-29T12:00:00.000Z"),
        ("0 12 29 2 *", "2028-02-29T12:00:00.000Z", "2032-02-29T12:00:00.000Z"),
        ("0 12 29 2 *", "2096-02-29T12:00:00.000Z", "2104-02-29T12:00:00.000Z"),
        // Sunday is 0, 7 or sun (2026-11-23 is a Monday).
        ("0 0 * * 0", "2026-11-23T00:00:00.000Z", "2026-11-29T00:00:00.000Z"),
        ("0 0 * * 7", "2026-11-23T00:00:00.000Z", "2026-11-29T00:00:00.000Z"),
        ("0 0 * * sun", "2026-11-23T00:00:00.000Z", "2026-11-29T00:00:00.000Z"),
        ("0 0 * * 0", "2026-11-29T00:00:00.000Z", "2026-12-06T00:00:00.000Z"),
        // Names: weekdays of the first quarter; a Friday goes to Monday, March to next January.
        ("0 9 * jan-mar mon-fri", "2026-11-23T00:00:00.000Z", "2027-01-01T09:00:00.000Z"),
        ("0 9 * jan-mar mon-fri", "2026-02-27T09:00:00.000Z", "2026-03-02T09:00:00.000Z"),
        ("0 9 * jan-mar mon-fri", "2026-03-31T09:00:00.000Z", "2027-01-01T09:00:00.000Z"),
        ("0 9 * JAN-Mar MON-fri", "2026-11-23T00:00:00.000Z", "2027-01-01T09:00:00.000Z"),
        // Both day fields restricted: a day matches either (Fri 27th, Tue 1st, Fri 4th).
        ("30 4 1,15 * 5", "2026-11-23T00:00:00.000Z", "2026-11-27T04:30:00.000Z"),
        ("30 4 1,15 * 5", "2026-11-27T04:30:00.000Z", "2026-12-01T04:30:00.000Z"),
        ("30 4 1,15 * 5", "2026-12-01T04:30:00.000Z", "2026-12-04T04:30:00.000Z"),
        // A step over a range: 10, 15, 20, then the next hour.
        ("10-20/5 * * * *", "2026-11-23T10:00:00.000Z", "2026-11-23T10:10:00.000Z"),
        ("10-20/5 * * * *", "2026-11-23T10:10:00.000Z", "2026-11-23T10:15:00.000Z"),
        ("10-20/5 * * * *", "2026-11-23T10:20:00.000Z", "2026-11-23T11:10:00.000Z"),
        // The last minute of the year, and the roll-over into the next one.
        ("59 23 31 12 *", "2026-06-01T00:00:00.000Z", "2026-12-31T23:59:00.000Z"),
        ("59 23 31 12 *", "2026-12-31T23:59:00.000Z", "2027-12-31T23:59:00.000Z"),
        ("0 0 1 1 *", "2026-12-31T23:59:59.999Z", "2027-01-01T00:00:00.000Z"),
        // Hours and minute lists together.
        ("0,30 9-17/4 * * *", "2026-11-23T09:30:00.000Z", "2026-11-23T13:00:00.000Z"),
        ("0,30 9-17/4 * * *", "2026-11-23T17:30:00.000Z", "2026-11-24T09:00:00.000Z"),
    ] as [(String, String, String)])
    func nextAfter_findsTheNextSlot(_ expression: String, _ after: String, _ expected: String) throws {
        #expect(try next(expression, after: after) == expected)
    }

    /// `next(after:)` is strictly after: a matching instant itself is never returned, a
    /// millisecond before it is.
    @Test(arguments: [
        ("2026-11-23T10:29:59.999Z", "2026-11-23T10:30:00.000Z"),
        ("2026-11-23T10:30:00.000Z", "2026-11-24T10:30:00.000Z"),
        ("2026-11-23T10:30:00.001Z", "2026-11-24T10:30:00.000Z"),
        ("2026-11-23T10:30:59.999Z", "2026-11-24T10:30:00.000Z"),
    ])
    func exactMatch_isExcluded(_ after: String, _ expected: String) throws {
        #expect(try next("30 10 * * *", after: after) == expected)
    }

    /// Instants before 1970 (negative milliseconds) floor to their minute and day correctly,
    /// weekdays included (1969-12-31 was a Wednesday, 1900 was not a leap year).
    @Test(arguments: [
        ("* * * * *", "1969-12-31T23:59:59.999Z", "1970-01-01T00:00:00.000Z"),
        ("* * * * *", "1969-12-31T23:58:00.000Z", "1969-12-31T23:59:00.000Z"),
        ("*/15 * * * *", "1969-12-31T23:50:00.000Z", "1970-01-01T00:00:00.000Z"),
        ("0 0 1 1 *", "1969-06-15T00:00:00.000Z", "1970-01-01T00:00:00.000Z"),
        ("0 0 * * 3", "1969-12-25T00:00:00.000Z", "1969-12-31T00:00:00.000Z"),
        ("0 12 * * *", "1960-06-15T13:00:00.000Z", "1960-06-16T12:00:00.000Z"),
        ("0 12 29 2 *", "1897-03-01T00:00:00.000Z", "1904-02-29T12:00:00.000Z"),
    ] as [(String, String, String)])
    func negativeEpochTimes_findTheNextSlot(_ expression: String, _ after: String, _ expected: String) throws {
        #expect(try next(expression, after: after) == expected)
    }

    /// `5/15` runs from 5 to the end of the field: 5, 20, 35, 50, then 5 of the next hour.
    @Test func stepFromAValue_runsToTheEndOfTheField() throws {
        let cron = try CronExpression("5/15 * * * *")
        var slots: [String] = []
        var time = try instant("2026-11-23T10:00:00.000Z")
        for _ in 0..<5 {
            time = try #require(cron.next(after: time))
            slots.append(Timestamp.format(milliseconds: time))
        }
        #expect(
            slots == [
                "2026-11-23T10:05:00.000Z", "2026-11-23T10:20:00.000Z", "2026-11-23T10:35:00.000Z",
                "2026-11-23T10:50:00.000Z", "2026-11-23T11:05:00.000Z",
            ])
    }

    /// Names, any case, mean the same as their numbers, and 7 means Sunday like 0: the two
    /// spellings agree on the next 60 slots.
    @Test(arguments: [
        ("0 9 * jan-mar mon-fri", "0 9 * 1-3 1-5"),
        ("0 0 * * sun", "0 0 * * 0"),
        ("0 0 * * 7", "0 0 * * 0"),
        ("0 0 * * fri-7", "0 0 * * 0,5,6"),
        ("15 6 * DEC SAT", "15 6 * 12 6"),
        ("0 0 1 Jul,aug *", "0 0 1 7-8 *"),
    ])
    func names_meanTheirNumbers(_ named: String, _ numbered: String) throws {
        let a = try CronExpression(named)
        let b = try CronExpression(numbered)
        var ta = try instant("2026-11-23T10:00:00.000Z")
        var tb = ta
        for _ in 0..<60 {
            ta = try #require(a.next(after: ta))
            tb = try #require(b.next(after: tb))
            #expect(Timestamp.format(milliseconds: ta) == Timestamp.format(milliseconds: tb))
        }
    }

    /// Extra spaces and tabs between fields are allowed; `description` keeps one space.
    @Test func whitespace_isCollapsedInTheDescription() throws {
        #expect(try CronExpression("  0\t6  * *   mon ").description == "0 6 * * mon")
    }

    /// A day field starting with `*` but narrowed by a step still restricts the days (`*/2`
    /// in day of month is the odd days); and, as in Vixie cron, when one day field starts
    /// with `*` a day must match both. Known bug: such a field is treated as "any day".
    @Test(arguments: [
        ("0 0 */2 * *", "2026-11-01T00:00:00.000Z", "2026-11-03T00:00:00.000Z"),
        ("0 0 * * */2", "2026-11-24T00:00:00.000Z", "2026-11-26T00:00:00.000Z"),
        ("0 0 */2 * 1", "2026-11-23T00:00:00.000Z", "2026-12-07T00:00:00.000Z"),
    ] as [(String, String, String)])
    func starStepDayField_stillRestrictsTheDays(_ expression: String, _ after: String, _ expected: String) throws {
        #expect(try next(expression, after: after) == expected)
    }

    // MARK: Invalid expressions

    /// Each invalid expression is refused with a message naming the field (or the field
    /// count) and the offending text; `@daily`-style nicknames are not accepted.
    @Test(arguments: [
        ("* * * *", "5 fields"),
        ("* * * * * *", "not 6"),
        ("", "not 0"),
        ("@daily", "5 fields"),
        ("@hourly", "5 fields"),
        ("60 * * * *", "invalid minute field \"60\""),
        ("* 24 * * *", "invalid hour field \"24\""),
        ("* * 0 * *", "invalid day of month field \"0\""),
        ("* * 32 * *", "invalid day of month field \"32\""),
        ("* * * 13 *", "invalid month field \"13\""),
        ("* * * 0 *", "invalid month field \"0\""),
        ("* * * * 8", "invalid day of week field \"8\""),
        ("*/0 * * * *", "invalid minute field \"*/0\""),
        ("*/61 * * * *", "invalid minute field \"*/61\""),
        ("5-1 * * * *", "invalid minute field \"5-1\": the range runs backwards"),
        ("* * * * sat-sun", "invalid day of week field \"sat-sun\": the range runs backwards"),
        ("a * * * *", "invalid minute field \"a\""),
        ("mon * * * *", "invalid minute field \"mon\""),
        ("* * * foo *", "invalid month field \"foo\""),
        ("1,,2 * * * *", "invalid minute field \"\""),
        ("1, * * * *", "invalid minute field \"\""),
        ("1/2/3 * * * *", "invalid minute field \"1/2/3\": more than one '/'"),
        ("0 0 30 2 *", "never fire"),
        ("0 0 31 4,6,9,11 *", "never fire"),
    ])
    func invalidExpression_isRefusedNamingTheField(_ text: String, _ fragment: String) {
        do {
            let parsed = try CronExpression(text)
            Issue.record("\"\(text)\" was accepted as \"\(parsed)\"")
        } catch {
            #expect(error.description.contains(fragment), "\"\(text)\": \(error.description)")
        }
    }
}
