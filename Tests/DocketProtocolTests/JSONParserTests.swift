import DocketProtocol
import Testing

/// Parses text, turning the typed failure into an untyped throw for `#expect(throws:)`.
private func parse(_ text: String) throws -> JSONValue {
    try JSONParser.parse(text)
}

private func parse(bytes: [UInt8]) throws -> JSONValue {
    try JSONParser.parse(bytes)
}

/// The failure `parse` reports for `text`, or `nil` when it parses.
private func failure(_ text: String) -> JSONParser.Failure? {
    do {
        _ = try JSONParser.parse(text)
        return nil
    } catch {
        return error
    }
}

private func failure(bytes: [UInt8]) -> JSONParser.Failure? {
    do {
        _ = try JSONParser.parse(bytes)
        return nil
    } catch {
        return error
    }
}

private func nested(_ depth: Int) -> String {
    String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
}

@Suite("JSONParser")
struct JSONParserTests {
    // MARK: Every JSON type

    /// The three literals parse to their values.
    @Test func literals_parseToNullAndBooleans() throws {
        #expect(try parse("null") == .null)
        #expect(try parse("true") == .bool(true))
        #expect(try parse("false") == .bool(false))
    }

    /// A simple string parses to its contents.
    @Test func string_parsesToItsContents() throws {
        #expect(try parse(#""hello""#) == .string("hello"))
        #expect(try parse(#""""#) == .string(""))
    }

    /// Arrays parse element by element, including nested and empty arrays.
    @Test func arrays_parseInOrder() throws {
        #expect(try parse("[]") == .array([]))
        #expect(try parse(#"[1,"a",null,true,[false],{}]"#)
            == .array([.number("1"), .string("a"), .null, .bool(true), .array([.bool(false)]), .object(JSONObject())]))
    }

    /// Objects parse member by member, including nested and empty objects.
    @Test func objects_parseTheirMembers() throws {
        #expect(try parse("{}") == .object(JSONObject()))
        let value = try parse(#"{"a":1,"b":{"c":[null]}}"#)
        #expect(value["a"] == .number("1"))
        #expect(value["b"]?["c"] == .array([.null]))
    }

    /// Object members keep the order in which they were written.
    @Test func objects_keepMemberOrder() throws {
        let value = try parse(#"{"z":1,"a":2,"m":3}"#)
        #expect(value.object?.keys == ["z", "a", "m"])
    }

    /// The same key may appear in sibling objects; only repeats within one object are duplicates.
    @Test func sameKeyInSiblingObjects_isNotADuplicate() throws {
        let value = try parse(#"[{"a":1},{"a":2},{"b":{"a":3}}]"#)
        #expect(value.array?.count == 3)
    }

    // MARK: Numbers

    /// Valid numbers are kept as the exact text that was written.
    @Test(arguments: [
        "0", "-0", "1", "-1", "1.50", "0.5", "-0.0", "1e5", "1E5", "1e+5", "1e-5", "1E-05",
        "-12.34e+56", "123456789012345678901234567890", "9223372036854775808", "0.000000000000000000001",
    ])
    func validNumber_keepsItsLiteralText(_ text: String) throws {
        #expect(try parse(text) == .number(text))
    }

    /// Number literal text survives inside containers too.
    @Test func numbersInsideContainers_keepTheirLiteralText() throws {
        #expect(try parse(#"{"id":1.50,"n":[1.0,2e0]}"#)
            == .object(JSONObject([("id", .number("1.50")), ("n", .array([.number("1.0"), .number("2e0")]))])))
    }

    /// Numbers outside the JSON grammar are rejected.
    @Test(arguments: [
        "01", "-01", "00", "1.", "-", ".5", "1e", "1e+", "1E-", "+1", "1.e5", "0x10", "NaN", "Infinity",
        "-Infinity", "1_000", "1.5.2", "--1", "- 1", "1..2", "1e5.5", "0.", "-.5",
    ])
    func malformedNumber_isRejected(_ text: String) {
        #expect(throws: JSONParser.Failure.self) { try parse(text) }
    }

    // MARK: Strings and escapes

    /// The two-character escapes decode to their characters.
    @Test func simpleEscapes_decode() throws {
        #expect(try parse(#""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{08}\u{0C}\n\r\t"))
    }

    /// `\u` escapes decode in either hex case, including NUL.
    @Test func unicodeEscapes_decode() throws {
        #expect(try parse(#""\u0041\u00e9\u00E9\u20AC""#) == .string("Aéé€"))
        #expect(try parse(#""a\u0000b""#) == .string("a\u{0}b"))
    }

    /// A surrogate pair in `\u` escapes decodes to the one scalar it encodes.
    @Test func surrogatePairEscape_decodesToOneScalar() throws {
        let value = try parse(#""\uD83D\uDE00""#)
        #expect(value == .string("😀"))
        #expect(value.string?.unicodeScalars.map(\.value) == [0x1F600])
        #expect(try parse(#""\udbff\udfff""#).string?.unicodeScalars.map(\.value) == [0x10FFFF])
    }

    /// Escaped and raw text mix in one string, in order.
    @Test func escapesMixedWithRawText_keepOrder() throws {
        #expect(try parse(#""ab\ncd\u0041é😀\tz""#) == .string("ab\ncdAé😀\tz"))
    }

    /// Raw multi-byte UTF-8 passes through unchanged.
    @Test func rawMultibyteUTF8_isAccepted() throws {
        let value = try parse(bytes: [0x22, 0xC3, 0xA9, 0xF0, 0x9F, 0x98, 0x80, 0x22])
        #expect(value.string.map { Array($0.utf8) } == [0xC3, 0xA9, 0xF0, 0x9F, 0x98, 0x80])
    }

    /// A surrogate `\u` escape that is not part of a high-low pair is rejected.
    @Test(arguments: [
        #""\uD800""#, #""\uD800x""#, #""\uD800\u0041""#, #""\uDC00""#, #""\uDE00\uD83D""#,
        #""\uDBFF\uDBFF""#, #""\uD800\n""#, #""\uD800\""#, #""\uD800\u""#,
    ])
    func loneSurrogateEscape_isRejected(_ text: String) {
        #expect(throws: JSONParser.Failure.self) { try parse(text) }
    }

    /// Malformed escapes are rejected.
    @Test(arguments: [#""\x""#, #""\u12""#, #""\u12G4""#, #""\U0041""#, #""\a""#, #""\'""#, #""\"#, #""\u""#])
    func malformedEscape_isRejected(_ text: String) {
        #expect(throws: JSONParser.Failure.self) { try parse(text) }
    }

    /// Bytes that are not valid UTF-8 inside a string are rejected, on both the plain and escaped paths.
    @Test(arguments: [
        [0x22, 0xC3, 0x28, 0x22],  // bad continuation byte
        [0x22, 0xFF, 0x22],  // never valid
        [0x22, 0xC0, 0x80, 0x22],  // overlong NUL
        [0x22, 0xED, 0xA0, 0x80, 0x22],  // UTF-8 encoded surrogate
        [0x22, 0xE2, 0x82, 0x22],  // truncated sequence
        [0x22, 0x80, 0x22],  // lone continuation byte
        [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],  // beyond U+10FFFF
        [0x22, 0x5C, 0x6E, 0xC3, 0x28, 0x22],  // after an escape: "\n" then bad bytes
    ] as [[UInt8]])
    func invalidUTF8InString_isRejected(_ bytes: [UInt8]) {
        let error = failure(bytes: bytes)
        #expect(error != nil)
        #expect(error?.message.contains("UTF-8") == true)
    }

    /// Unescaped control characters (U+0000 to U+001F) in a string are rejected; DEL is allowed.
    @Test(arguments: [0x00, 0x01, 0x09, 0x0A, 0x0D, 0x1F] as [UInt8])
    func controlCharacterInString_isRejected(_ control: UInt8) {
        #expect(failure(bytes: [0x22, 0x61, control, 0x62, 0x22]) != nil)
        // The same after an escape, on the slow path.
        #expect(failure(bytes: [0x22, 0x5C, 0x6E, control, 0x22]) != nil)
    }

    /// DEL (0x7F) is not a JSON control character and passes through.
    @Test func deleteCharacterInString_isAccepted() throws {
        #expect(try parse(bytes: [0x22, 0x7F, 0x22]) == .string("\u{7F}"))
    }

    /// A string without its closing quote is rejected.
    @Test(arguments: [#""abc"#, #"""#, #""abc\n"#, #"{"a"#])
    func unterminatedString_isRejected(_ text: String) {
        #expect(throws: JSONParser.Failure.self) { try parse(text) }
    }

    // MARK: Structure errors

    /// Text after the one JSON value is rejected.
    @Test(arguments: ["1 2", "{}x", "[]]", "truex", "nulll", #""a""b""#, "{} {}", "[1],", "0 0"])
    func trailingGarbage_isRejected(_ text: String) {
        let error = failure(text)
        #expect(error != nil)
    }

    /// Trailing text is reported as such, at the offset where it starts.
    @Test func trailingGarbage_isReportedAtItsOffset() throws {
        let error = try #require(failure("[1] x"))
        #expect(error.message.contains("after the JSON value"))
        #expect(error.offset == 4)
    }

    /// A key that appears twice in one object is rejected, also when spelled with an escape.
    @Test(arguments: [#"{"a":1,"a":2}"#, #"{"a":1,"\u0061":2}"#, #"{"x":{"k":1,"b":2,"k":1}}"#, #"{"":1,"":1}"#])
    func duplicateKey_isRejected(_ text: String) throws {
        let error = try #require(failure(text))
        #expect(error.message.contains("duplicate key"))
    }

    /// Keys that differ only by Unicode normalization are distinct keys under RFC 8259 (code unit comparison).
    @Test func keysDifferingOnlyByNormalization_areDistinct() throws {
        // "é" precomposed (U+00E9) and decomposed (U+0065 U+0301); "K" and KELVIN SIGN (U+212A).
        let value = try parse(#"{"\u00e9":1,"e\u0301":2}"#)
        #expect(value.object?.keys.count == 2)
        #expect(value["\u{00e9}"] == 1 && value["e\u{0301}"] == 2)
        let kelvin = try parse(#"{"K":1,"\u212A":2}"#)
        #expect(kelvin.object?.keys.count == 2)
    }

    /// Malformed arrays and objects are rejected.
    @Test(arguments: [
        "[", "{", "]", "}", "[1,]", "[,1]", "[1 2]", "{,}", #"{"a":}"#, #"{"a" 1}"#, "{a:1}", #"{"a":1,}"#,
        #"{"a":1 "b":2}"#, "{1:2}", #"{"a"}"#, "[1:2]", #"{"a":1]"#, "[1}", "['a']",
    ])
    func malformedContainer_isRejected(_ text: String) {
        #expect(throws: JSONParser.Failure.self) { try parse(text) }
    }

    /// Misspelled or truncated literals are rejected.
    @Test(arguments: ["tru", "True", "nul", "NULL", "fals", "falsy", "t", "nan", "undefined"])
    func malformedLiteral_isRejected(_ text: String) {
        #expect(throws: JSONParser.Failure.self) { try parse(text) }
    }

    /// A failure reports the byte offset where parsing stopped.
    @Test func failure_reportsTheOffendingOffset() throws {
        let error = try #require(failure("[1 2]"))
        #expect(error.offset == 3)
        #expect(error.message.contains("','"))
    }

    // MARK: Whitespace and empty input

    /// Space, tab, CR and LF are allowed around and between tokens.
    @Test func jsonWhitespace_isAllowedBetweenTokens() throws {
        let value = try parse(" \t\r\n{ \"a\" :\n[ 1 ,\t2 ] ,\r\n \"b\" : null } \n")
        #expect(value == .object(JSONObject([("a", .array([.number("1"), .number("2")])), ("b", .null)])))
        #expect(try parse("  7  ") == .number("7"))
    }

    /// Characters that are not JSON whitespace (form feed, vertical tab, NBSP) are rejected.
    @Test(arguments: ["\u{0C}1", "1\u{0B}", "\u{A0}1", "[1,\u{0C}2]"])
    func nonJSONWhitespace_isRejected(_ text: String) {
        #expect(throws: JSONParser.Failure.self) { try parse(text) }
    }

    /// Empty input and whitespace-only input are rejected as an unexpected end.
    @Test func emptyInput_isRejected() throws {
        let empty = try #require(failure(""))
        #expect(empty.offset == 0)
        #expect(empty.message.contains("end of input"))
        #expect(failure(" \n\t ") != nil)
        #expect(failure(bytes: []) != nil)
    }

    /// Whitespace inside a string is part of the string, not skipped.
    @Test func whitespaceInsideString_isKept() throws {
        #expect(try parse(#"" a  b ""#) == .string(" a  b "))
    }

    // MARK: Nesting depth

    /// Arrays nested exactly 64 deep are accepted.
    @Test func arraysNested64Deep_areAccepted() throws {
        #expect(JSONParser.maximumDepth == 64)
        var value = try parse(nested(64))
        var depth = 0
        while case .array(let elements) = value {
            depth += 1
            guard let first = elements.first else { break }
            value = first
        }
        #expect(depth == 64)
    }

    /// Arrays nested 65 deep are rejected with a message about nesting.
    @Test func arraysNested65Deep_areRejected() throws {
        let error = try #require(failure(nested(65)))
        #expect(error.message.contains("nesting"))
    }

    /// Objects count toward the same depth limit as arrays.
    @Test func objectsAndMixedNesting_shareTheDepthLimit() {
        let objects64 = String(repeating: #"{"a":"#, count: 63) + "{}" + String(repeating: "}", count: 63)
        #expect(failure(objects64) == nil)
        let objects65 = String(repeating: #"{"a":"#, count: 64) + "{}" + String(repeating: "}", count: 64)
        #expect(failure(objects65) != nil)
        let mixed65 = String(repeating: #"[{"a":"#, count: 32) + "[]" + String(repeating: "}]", count: 32)
        #expect(failure(mixed65) != nil)
        let mixed64 = String(repeating: #"[{"a":"#, count: 32) + "0" + String(repeating: "}]", count: 32)
        #expect(failure(mixed64) == nil)
    }

    /// A caller-chosen `maximumDepth` is honoured; scalars have depth 0.
    @Test func customMaximumDepth_isHonoured() throws {
        #expect(try JSONParser.parse("[[1]]", maximumDepth: 2) == .array([.array([.number("1")])]))
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse("[[[1]]]", maximumDepth: 2) }
        #expect(try JSONParser.parse("1", maximumDepth: 0) == .number("1"))
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse("[]", maximumDepth: 0) }
    }

    /// 100,000 nested '[' are rejected quickly, without exhausting the stack.
    @Test func hundredThousandOpenBrackets_areRejectedQuickly() {
        let text = String(repeating: "[", count: 100_000)
        var error: JSONParser.Failure?
        let elapsed = ContinuousClock().measure { error = failure(text) }
        #expect(error?.message.contains("nesting") == true)
        #expect(elapsed < .seconds(1))
        let balanced = nested(100_000)
        #expect(failure(balanced) != nil)
    }

    // MARK: Input collections

    /// Parsing works on an array slice whose indices do not start at zero.
    @Test func arraySliceInput_isParsedFromItsStart() throws {
        let bytes = Array(#"xx{"a":[1]}"#.utf8)
        #expect(try JSONParser.parse(bytes[2...]) == .object(JSONObject([("a", .array([.number("1")]))])))
    }

    /// Parsing works on a collection without contiguous storage.
    @Test func nonContiguousInput_isParsed() throws {
        let source = Array(#"[true,"é"]"#.utf8)
        let lazy = source.indices.lazy.map { source[$0] }
        #expect(try JSONParser.parse(lazy) == .array([.bool(true), .string("é")]))
    }
}
