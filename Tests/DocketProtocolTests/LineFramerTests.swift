import DocketProtocol
import Testing

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

private func next(_ text: String, from: Int = 0, limit: Int = 1 << 20) -> LineFramer.Result {
    LineFramer.nextLine(in: bytes(text), from: from, limit: limit)
}

private func filler(_ count: Int) -> String { String(repeating: "a", count: count) }

@Suite("LineFramer")
struct LineFramerTests {
    // MARK: Terminators

    /// A line ended by `\n` has its length without the terminator and a one-byte terminator.
    @Test func newlineTerminatedLine_isFound() {
        #expect(next("{\"op\":\"ping\"}\n") == .line(length: 13, terminator: 1))
    }

    /// A line ended by `\r\n` has its length without the `\r` and a two-byte terminator.
    @Test func crlfTerminatedLine_isFound() {
        #expect(next("{\"op\":\"ping\"}\r\n") == .line(length: 13, terminator: 2))
    }

    /// An empty line is a line of length zero with either terminator.
    @Test func emptyLine_isALineOfLengthZero() {
        #expect(next("\n") == .line(length: 0, terminator: 1))
        #expect(next("\r\n") == .line(length: 0, terminator: 2))
    }

    /// Only the first line is reported when several are buffered.
    @Test func severalBufferedLines_reportTheFirst() {
        #expect(next("ab\ncdef\n") == .line(length: 2, terminator: 1))
        #expect(next("ab\r\ncdef\r\n") == .line(length: 2, terminator: 2))
    }

    /// A `\r` that is not right before the `\n` is part of the line.
    @Test func carriageReturnInsideTheLine_isContent() {
        #expect(next("a\rb\n") == .line(length: 3, terminator: 1))
        #expect(next("ab\r\r\n") == .line(length: 3, terminator: 2))
    }

    // MARK: Partial lines and resuming

    /// Input without a newline asks for more and says how many bytes it scanned.
    @Test func partialLine_needsMoreWithScannedCount() {
        #expect(next("{\"op\":\"pi") == .needMore(scanned: 9))
        #expect(next("") == .needMore(scanned: 0))
        #expect(next("abc\r") == .needMore(scanned: 4))
    }

    /// Resuming with `from:` set to the scanned count finds the newline in the newly arrived bytes.
    @Test func resumingFromScannedCount_findsTheLine() {
        var buffer = bytes("{\"op\":")
        guard case .needMore(let scanned) = LineFramer.nextLine(in: buffer, limit: 100) else {
            Issue.record("expected needMore")
            return
        }
        #expect(scanned == 6)
        buffer += bytes("\"ping\"}")
        let second = LineFramer.nextLine(in: buffer, from: scanned, limit: 100)
        #expect(second == .needMore(scanned: 13))
        buffer += bytes("\n{\"op\"")
        #expect(LineFramer.nextLine(in: buffer, from: 13, limit: 100) == .line(length: 13, terminator: 1))
    }

    /// A `\r` at the end of one read and `\n` at the start of the next still form a `\r\n` terminator.
    @Test func crlfSplitAcrossReads_isOneTerminator() {
        var buffer = bytes("abc\r")
        #expect(LineFramer.nextLine(in: buffer, limit: 100) == .needMore(scanned: 4))
        buffer += bytes("\n")
        #expect(LineFramer.nextLine(in: buffer, from: 4, limit: 100) == .line(length: 3, terminator: 2))
    }

    /// Lengths are measured from the slice's own start when its indices do not begin at zero.
    @Test func arraySliceWithOffsetIndices_isMeasuredFromItsStart() {
        let buffer = bytes("xxxxabc\ndef\r\n")
        #expect(LineFramer.nextLine(in: buffer[4...], limit: 100) == .line(length: 3, terminator: 1))
        #expect(LineFramer.nextLine(in: buffer[8...], limit: 100) == .line(length: 3, terminator: 2))
        #expect(LineFramer.nextLine(in: buffer[8..<10], limit: 100) == .needMore(scanned: 2))
        #expect(LineFramer.nextLine(in: buffer[8...], from: 2, limit: 100) == .line(length: 3, terminator: 2))
    }

    // MARK: The limit

    /// A line of exactly `limit` bytes is accepted with either terminator.
    @Test func lineExactlyAtTheLimit_isAccepted() {
        #expect(next(filler(10) + "\n", limit: 10) == .line(length: 10, terminator: 1))
        #expect(next(filler(10) + "\r\n", limit: 10) == .line(length: 10, terminator: 2))
    }

    /// A line of `limit + 1` bytes is too large once its newline has arrived, with either terminator.
    @Test func lineOneOverTheLimitWithNewline_isTooLarge() {
        #expect(next(filler(11) + "\n", limit: 10) == .tooLarge)
        #expect(next(filler(11) + "\r\n", limit: 10) == .tooLarge)
        #expect(next(filler(50) + "\n", limit: 10) == .tooLarge)
    }

    /// `limit` bytes without a newline, or `limit` bytes and a `\r`, may still become a valid line.
    @Test func upToTheLimitWithoutNewline_needsMore() {
        #expect(next(filler(10), limit: 10) == .needMore(scanned: 10))
        #expect(next(filler(10) + "\r", limit: 10) == .needMore(scanned: 11))
    }

    /// `limit + 1` content bytes without a newline are already too large (the type's documented contract).
    @Test func lineOneOverTheLimitWithoutNewline_isTooLarge() {
        #expect(next(filler(11), limit: 10) == .tooLarge)
    }

    /// Two bytes over the limit without a newline can never become a valid line and are too large.
    @Test func lineTwoOverTheLimitWithoutNewline_isTooLarge() {
        #expect(next(filler(12), limit: 10) == .tooLarge)
        #expect(next(filler(10) + "\r\r", limit: 10) == .tooLarge)
        #expect(next(filler(1000), limit: 10) == .tooLarge)
    }

    /// The default protocol limit of 1 MiB accepts a line of exactly 1 MiB and refuses one byte more.
    @Test func defaultLimit_isOneMebibyte() {
        let limit = Limits.standard.maxLineBytes
        #expect(limit == 1_048_576)
        var buffer = [UInt8](repeating: UInt8(ascii: "x"), count: limit)
        buffer.append(UInt8(ascii: "\n"))
        #expect(LineFramer.nextLine(in: buffer, limit: limit) == .line(length: limit, terminator: 1))
        buffer.insert(UInt8(ascii: "x"), at: 0)
        #expect(LineFramer.nextLine(in: buffer, limit: limit) == .tooLarge)
    }

    /// A short first line is accepted even when later buffered bytes exceed the limit.
    @Test func shortLineBeforeLongData_isAccepted() {
        #expect(next("ok\n" + filler(100), limit: 10) == .line(length: 2, terminator: 1))
    }

    // MARK: Blank lines

    /// Lines of only spaces and tabs, and empty lines, are blank.
    @Test(arguments: ["", " ", "\t", " \t  \t"])
    func spacesAndTabs_areBlank(_ line: String) {
        #expect(LineFramer.isBlank(bytes(line)))
    }

    /// Lines with any other byte are not blank.
    @Test(arguments: ["x", " x ", "{}", "\r", " \u{0B}", "\u{A0}", "\u{0C}"])
    func linesWithContent_areNotBlank(_ line: String) {
        #expect(!LineFramer.isBlank(bytes(line)))
    }
}
