import DocketProtocol
import Testing

private let day: Int64 = 86_400_000

@Suite("Timestamp")
struct TimestampTests {
    // MARK: Format

    /// Known instants format as RFC 3339 UTC with exactly three fraction digits and `Z`.
    @Test(arguments: [
        (0, "1970-01-01T00:00:00.000Z"),
        (1, "1970-01-01T00:00:00.001Z"),
        (999, "1970-01-01T00:00:00.999Z"),
        (1_795_413_600_000, "2026-11-23T06:00:00.000Z"),
        (1_795_413_600_123, "2026-11-23T06:00:00.123Z"),
        (1_709_164_800_000, "2024-02-29T00:00:00.000Z"),
        (1_709_164_800_000 + day - 1, "2024-02-29T23:59:59.999Z"),
        (1_709_164_800_000 + day, "2024-03-01T00:00:00.000Z"),
        (951_827_696_000, "2000-02-29T12:34:56.000Z"),
        (4_107_456_000_000, "2100-02-28T00:00:00.000Z"),
        (4_107_456_000_000 + day, "2100-03-01T00:00:00.000Z"),
        (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
    ] as [(Int64, String)])
    func knownInstant_formatsAsRFC3339(_ milliseconds: Int64, _ expected: String) {
        #expect(Timestamp.format(milliseconds: milliseconds) == expected)
    }

    /// Instants before the epoch format with the correct earlier date and a positive time of day.
    @Test(arguments: [
        (-1, "1969-12-31T23:59:59.999Z"),
        (-1000, "1969-12-31T23:59:59.000Z"),
        (-1001, "1969-12-31T23:59:58.999Z"),
        (-day, "1969-12-31T00:00:00.000Z"),
        (-day - 1, "1969-12-30T23:59:59.999Z"),
        (-2_208_988_800_000, "1900-01-01T00:00:00.000Z"),
        (-62_135_596_800_000, "0001-01-01T00:00:00.000Z"),
        (-62_167_219_200_000, "0000-01-01T00:00:00.000Z"),
    ] as [(Int64, String)])
    func negativeInstant_formatsBeforeTheEpoch(_ milliseconds: Int64, _ expected: String) {
        #expect(Timestamp.format(milliseconds: milliseconds) == expected)
    }

    /// Year 2100 is not a leap year: the day after Feb 28 is Mar 1; 2000 and 2024 are leap years.
    @Test func centuryRule_decidesLeapYears() {
        #expect(Timestamp.format(milliseconds: Timestamp.days(fromCivil: 2100, 2, 28) * day + day) == "2100-03-01T00:00:00.000Z")
        #expect(Timestamp.format(milliseconds: Timestamp.days(fromCivil: 2000, 2, 28) * day + day) == "2000-02-29T00:00:00.000Z")
        #expect(Timestamp.format(milliseconds: Timestamp.days(fromCivil: 2024, 2, 28) * day + day) == "2024-02-29T00:00:00.000Z")
        #expect(Timestamp.format(milliseconds: Timestamp.days(fromCivil: 2023, 2, 28) * day + day) == "2023-03-01T00:00:00.000Z")
    }

    // MARK: Parse

    /// `Z`, lowercase `z`, lowercase `t` and a space separator all parse to the same instant.
    @Test(arguments: [
        "2026-11-23T06:00:00Z", "2026-11-23T06:00:00z", "2026-11-23t06:00:00Z", "2026-11-23 06:00:00Z",
        "2026-11-23T06:00:00.000Z", "2026-11-23T06:00:00+00:00", "2026-11-23T06:00:00-00:00",
    ])
    func utcForms_parseToTheSameInstant(_ text: String) {
        #expect(Timestamp.parse(text) == 1_795_413_600_000)
    }

    /// Numeric offsets are subtracted to give UTC, including half-hour offsets and date changes.
    @Test(arguments: [
        ("2026-11-23T08:00:00+02:00", 1_795_413_600_000),
        ("2026-11-23T00:30:00-05:30", 1_795_413_600_000),
        ("2026-11-22T23:00:00-07:00", 1_795_413_600_000),
        ("2026-11-24T05:59:00+23:59", 1_795_413_600_000),
        ("1970-01-01T00:00:00+01:00", -3_600_000),
        ("1969-12-31T19:00:00-05:00", 0),
    ] as [(String, Int64)])
    func offset_isAppliedToGiveUTC(_ text: String, _ expected: Int64) {
        #expect(Timestamp.parse(text) == expected)
    }

    /// Fractions of 1, 2, 3 and 6 digits parse to milliseconds; digits past the third are truncated.
    @Test(arguments: [
        ("2026-11-23T06:00:00.5Z", 500),
        ("2026-11-23T06:00:00.05Z", 50),
        ("2026-11-23T06:00:00.12Z", 120),
        ("2026-11-23T06:00:00.123Z", 123),
        ("2026-11-23T06:00:00.007Z", 7),
        ("2026-11-23T06:00:00.123456Z", 123),
        ("2026-11-23T06:00:00.999999Z", 999),
        ("2026-11-23T06:00:00.000001Z", 0),
        ("2026-11-23T06:00:00.1234567891234Z", 123),
        ("2026-11-23T08:00:00.250+02:00", 250),
    ] as [(String, Int64)])
    func fraction_parsesToMilliseconds(_ text: String, _ milliseconds: Int64) {
        #expect(Timestamp.parse(text) == 1_795_413_600_000 + milliseconds)
    }

    /// Fractions before the epoch still add to the whole second (they are not negated).
    @Test func fractionBeforeEpoch_addsToTheSecond() {
        #expect(Timestamp.parse("1969-12-31T23:59:59.5Z") == -500)
        #expect(Timestamp.parse("1969-12-31T23:59:59.999Z") == -1)
    }

    /// Leap days parse only in leap years.
    @Test func leapDays_parseOnlyInLeapYears() {
        #expect(Timestamp.parse("2024-02-29T00:00:00Z") == 1_709_164_800_000)
        #expect(Timestamp.parse("2000-02-29T12:34:56Z") == 951_827_696_000)
        #expect(Timestamp.parse("2023-02-29T00:00:00Z") == nil)
        #expect(Timestamp.parse("2100-02-29T00:00:00Z") == nil)
        #expect(Timestamp.parse("1900-02-29T00:00:00Z") == nil)
    }

    /// Impossible dates and times, missing parts and garbage are rejected.
    @Test(arguments: [
        "2026-02-30T00:00:00Z", "2023-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z", "2026-11-00T00:00:00Z", "2026-11-32T00:00:00Z",
        "2026-11-23T24:00:00Z", "2026-11-23T06:60:00Z", "2026-11-23T06:00:60Z", "2026-11-23T99:00:00Z",
        "2026-11-23T06:00:00", "2026-11-23T06:00:00.000", "2026-11-23T06:00:00.Z", "2026-11-23T06:00:00.",
        "2026-11-23", "2026-11-23T06:00Z", "2026-11-23T6:00:00Z", "26-11-23T06:00:00Z", "2026/11/23T06:00:00Z",
        "2026-11-23X06:00:00Z", "2026-11-23T06:00:00ZZ", "2026-11-23T06:00:00Z ", " 2026-11-23T06:00:00Z",
        "2026-11-23T06:00:00+0200", "2026-11-23T06:00:00+02", "2026-11-23T06:00:00+24:00",
        "2026-11-23T06:00:00+02:60", "2026-11-23T06:00:00 +02:00", "2026-11-23T06:00:00UTC",
        "+2026-11-23T06:00:00Z", "-2026-11-23T06:00:00Z", "２０２６-11-23T06:00:00Z", "2026-11-23T06:00:00.-1Z",
        "", "garbage", "now", "1795413600000", "T", "Z",
    ])
    func malformedText_isRejected(_ text: String) {
        #expect(Timestamp.parse(text) == nil)
    }

    // MARK: Round trips

    /// Formatting a parsed canonical timestamp gives back the same text.
    @Test(arguments: [
        "1970-01-01T00:00:00.000Z", "2026-11-23T06:00:00.000Z", "2024-02-29T23:59:59.999Z",
        "2000-02-29T12:34:56.789Z", "2100-03-01T00:00:00.001Z", "1969-12-31T23:59:59.999Z",
        "1900-01-01T00:00:00.000Z", "0000-01-01T00:00:00.000Z", "0001-03-01T12:00:00.500Z",
        "9999-12-31T23:59:59.999Z",
    ])
    func formatOfParse_roundTrips(_ text: String) throws {
        let milliseconds = try #require(Timestamp.parse(text))
        #expect(Timestamp.format(milliseconds: milliseconds) == text)
    }

    /// Parsing a formatted instant gives back the same milliseconds across a wide range.
    @Test func parseOfFormat_roundTripsAcrossTheRange() {
        var failures: [Int64] = []
        var milliseconds: Int64 = -62_167_219_200_000
        while milliseconds < 253_402_300_800_000 {
            if Timestamp.parse(Timestamp.format(milliseconds: milliseconds)) != milliseconds {
                failures.append(milliseconds)
            }
            milliseconds += 9_876_543_211  // an odd step that visits varied times of day and dates
        }
        #expect(failures.isEmpty)
    }

    /// `days(fromCivil:)` and `civil(fromDays:)` are inverse across 0000 to 9999.
    @Test func civilConversions_areInverse() {
        var mismatches = 0
        var days: Int64 = -719_528  // 0000-01-01
        while days <= 2_932_896 {  // 9999-12-31
            let (year, month, dayOfMonth) = Timestamp.civil(fromDays: days)
            if Timestamp.days(fromCivil: year, month, dayOfMonth) != days { mismatches += 1 }
            days += 37
        }
        #expect(mismatches == 0)
        #expect(Timestamp.days(fromCivil: 1970, 1, 1) == 0)
        #expect(Timestamp.civil(fromDays: 0) == (1970, 1, 1))
        #expect(Timestamp.civil(fromDays: -1) == (1969, 12, 31))
        #expect(Timestamp.days(fromCivil: 2026, 11, 23) == 20_780)
    }

    // MARK: The edges of four-digit years

    /// A text whose offset moves the instant out of years 0000 to 9999 is refused: it could not be written back.
    @Test(arguments: ["9999-12-31T23:59:59.999-23:59", "0000-01-01T00:00:00.000+00:01"])
    func instantOutsideFourDigitYears_isRefused(_ text: String) {
        #expect(Timestamp.parse(text) == nil)
    }

    /// The first and last instants of four-digit years parse and round trip.
    @Test func edgesOfFourDigitYears_roundTrip() {
        for text in ["0000-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z"] {
            #expect(Timestamp.parse(text).map(Timestamp.format(milliseconds:)) == text)
        }
    }

    /// An instant in year 10000 or later is clamped to the last writable instant, never a wrong earlier year.
    @Test func instantAfterYear9999_isClamped() {
        #expect(Timestamp.format(milliseconds: 253_402_300_800_000) == "9999-12-31T23:59:59.999Z")
    }

    /// Formatting an instant before year 0000 clamps instead of trapping.
    @Test func instantBeforeYear0000_isClamped() {
        #expect(Timestamp.format(milliseconds: -62_167_219_200_001) == "0000-01-01T00:00:00.000Z")
    }
}
