import DocketProtocol

/// The checks of the texts an input carries (its strings, keys and numbers) as timestamps,
/// durations and cron expressions, whichever they happen to parse as.
extension FuzzInput {
    static func collectLeaves(_ value: JSONValue, into texts: inout [String]) {
        switch value {
        case .string(let text): texts.append(text)
        case .number(let text):
            if let milliseconds = Int64(text) { checkFormat(milliseconds) }
        case .array(let elements): for element in elements { collectLeaves(element, into: &texts) }
        case .object(let object):
            for member in object.members {
                texts.append(member.key)
                collectLeaves(member.value, into: &texts)
            }
        case .null, .bool: break
        }
    }

    /// Every time writes as 24 bytes that read back as the same time (clamped to four-digit years).
    static func checkFormat(_ milliseconds: Int64) {
        let text = Timestamp.format(milliseconds: milliseconds)
        let clamped = min(max(milliseconds, Timestamp.representable.lowerBound), Timestamp.representable.upperBound)
        check(text.utf8.count == 24 && Timestamp.parse(text) == clamped, "\(milliseconds) formats as \(text), which reads back differently")
    }

    static func checkTexts(_ texts: [String], cronTries: inout Int) {
        var instants: [Int64] = [Timestamp.representable.lowerBound, -1, 0, now]
        for text in texts {
            if let milliseconds = Timestamp.parse(text) {
                check(Timestamp.representable.contains(milliseconds), "\(text) reads as \(milliseconds), beyond four-digit years")
                checkFormat(milliseconds)
                // Text already in the written form is written back unchanged, so a date that
                // does not exist (February 30, hour 24) cannot be accepted as a later one.
                let b = Array(text.utf8)
                if b.count == 24, b[10] == UInt8(ascii: "T"), b[19] == UInt8(ascii: "."), b[23] == UInt8(ascii: "Z") {
                    check(Timestamp.format(milliseconds: milliseconds) == text, "\(text) reads as another time")
                }
                instants.append(milliseconds)
            }
            if let milliseconds = DurationText.milliseconds(text) {
                check(milliseconds >= 0, "duration \(text) reads as \(milliseconds) ms")
            }
        }
        for text in texts where text.utf8.count <= 256 && cronTries < maximumCronTries {
            cronTries += 1
            guard let cron = try? CronExpression(text) else { continue }
            check((try? CronExpression(cron.description)) == cron, "cron \"\(text)\" reads back differently from \"\(cron)\"")
            for after in instants.prefix(8) { checkNext(cron, after: after) }
        }
    }

    /// `next(after:)` gives a whole minute after the instant that it would give again from
    /// any instant in between: otherwise it skipped a matching minute, or gave one that does not match.
    static func checkNext(_ cron: CronExpression, after: Int64) {
        guard let next = cron.next(after: after) else { fail("accepted cron \"\(cron)\" never fires after \(after)") }
        check(next > after && next % 60_000 == 0, "cron \"\(cron)\" after \(after) gives \(next)")
        for between in [after + 1, after + (next - after) / 2, next - 1] where between < next {
            check(cron.next(after: between) == next, "cron \"\(cron)\": after \(after) gives \(next), after \(between) does not")
        }
    }
}
