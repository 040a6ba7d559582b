import DocketProtocol
import Testing

private func text(_ value: JSONValue) -> String {
    JSONWriter.text(of: value)
}

private func utf8(_ writer: JSONWriter) -> String {
    String(decoding: writer.bytes, as: UTF8.self)
}

/// A nested, order-sensitive comparison of JSON values by their UTF-8 bytes, so that
/// strings equal only under Unicode canonical equivalence do not count as equal.
private func sameBytes(_ lhs: JSONValue, _ rhs: JSONValue) -> Bool {
    Array(JSONWriter.text(of: lhs).utf8) == Array(JSONWriter.text(of: rhs).utf8)
}

@Suite("JSONWriter")
struct JSONWriterTests {
    // MARK: Escaping

    /// Quotes and backslashes inside strings are escaped with a backslash.
    @Test func quotesAndBackslashes_areEscaped() {
        #expect(text(.string(#"say "hi""#)) == #""say \"hi\"""#)
        #expect(text(.string(#"C:\dir\"#)) == #""C:\\dir\\""#)
        #expect(text(.string(#"\""#)) == #""\\\"""#)
    }

    /// Newline, carriage return and tab use their short escapes.
    @Test func newlineReturnAndTab_useShortEscapes() {
        #expect(text(.string("a\nb\rc\td")) == #""a\nb\rc\td""#)
    }

    /// Every other control character is written as a lowercase `\u00XX` escape.
    @Test(arguments: [
        (0x00, #"\u0000"#), (0x01, #"\u0001"#), (0x08, #"\u0008"#), (0x0B, #"\u000b"#), (0x0C, #"\u000c"#),
        (0x1B, #"\u001b"#), (0x1F, #"\u001f"#),
    ] as [(UInt32, String)])
    func otherControlCharacters_useUnicodeEscapes(_ scalar: UInt32, _ escaped: String) throws {
        let character = String(Character(try #require(Unicode.Scalar(scalar))))
        #expect(text(.string("x" + character + "y")) == "\"x" + escaped + "y\"")
    }

    /// No raw control byte (below 0x20) ever appears in the output.
    @Test func output_containsNoRawControlBytes() {
        let all = String(String.UnicodeScalarView((0..<0x20).map { Unicode.Scalar(UInt8($0)) }))
        let bytes = Array(text(.string(all)).utf8)
        #expect(!bytes.contains { $0 < 0x20 })
    }

    /// Non-ASCII text, DEL, slash and U+2028 pass through unescaped as UTF-8.
    @Test func nonASCIIAndSlash_passThroughUnescaped() {
        let value = "é€😀/\u{7F}\u{2028}日本"
        #expect(Array(text(.string(value)).utf8) == Array(("\"" + value + "\"").utf8))
    }

    /// Keys known only at run time are escaped like strings.
    @Test func runtimeKey_isEscaped() {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key(String("a\"b\n"))
        writer.int(1)
        writer.endObject()
        #expect(utf8(writer) == #"{"a\"b\n":1}"#)
    }

    // MARK: Shapes

    /// Scalars are written compactly: numbers keep their literal text.
    @Test func scalars_areWrittenCompactly() {
        #expect(text(.null) == "null")
        #expect(text(.bool(true)) == "true")
        #expect(text(.bool(false)) == "false")
        #expect(text(.number("1.50")) == "1.50")
        #expect(text(.number("-1e+10")) == "-1e+10")
        #expect(text(.string("")) == #""""#)
    }

    /// Containers are written without whitespace, with commas only between members.
    @Test func containers_areWrittenWithoutWhitespace() {
        #expect(text([]) == "[]")
        #expect(text([:]) == "{}")
        #expect(text([1, "a", .null, true, [[]], [:]]) == #"[1,"a",null,true,[[]],{}]"#)
        #expect(text(["a": [1, 2, ["b": .null]], "c": true]) == #"{"a":[1,2,{"b":null}],"c":true}"#)
    }

    /// Object members are written in their stored order, not sorted.
    @Test func objectMembers_keepTheirOrder() {
        let object = JSONValue.object(JSONObject([("z", 1), ("a", 2), ("m", 3), ("b", [:])]))
        #expect(text(object) == #"{"z":1,"a":2,"m":3,"b":{}}"#)
    }

    /// The streaming API places commas correctly across nested containers and all value kinds.
    @Test func streamingCalls_placeCommasCorrectly() {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("id")
        writer.int(Int64.min)
        writer.key("ok")
        writer.bool(true)
        writer.key("list")
        writer.beginArray()
        writer.int(1)
        writer.string("two")
        writer.null()
        writer.beginObject()
        writer.endObject()
        writer.beginArray()
        writer.bool(false)
        writer.endArray()
        writer.raw(RawJSON(trusted: #"{"x":[1]}"#))
        writer.endArray()
        writer.key("empty")
        writer.beginArray()
        writer.endArray()
        writer.key("raw")
        writer.raw(.null)
        writer.key("value")
        writer.value(["k": "v"])
        writer.endObject()
        #expect(
            utf8(writer)
                == #"{"id":-9223372036854775808,"ok":true,"list":[1,"two",null,{},[false],{"x":[1]}],"empty":[],"raw":null,"value":{"k":"v"}}"#
        )
    }

    /// Integers are written in full, at both ends of the Int64 range.
    @Test func int_writesTheFullRange() {
        var writer = JSONWriter()
        writer.beginArray()
        writer.int(0)
        writer.int(-1)
        writer.int(Int64.max)
        writer.int(Int64.min)
        writer.endArray()
        #expect(utf8(writer) == "[0,-1,9223372036854775807,-9223372036854775808]")
    }

    // MARK: Round trip

    /// Parsing written text gives back the same value, byte for byte, for a table of values.
    @Test(arguments: [
        .null, .bool(true), .bool(false), .number("0"), .number("-0"), .number("1.50"), .number("1E-7"),
        .number("123456789012345678901234567890"), .string(""), .string("plain"),
        .string("quote \" backslash \\ slash /"), .string("controls \u{0}\u{1}\u{8}\u{C}\n\r\t\u{1F}\u{7F}"),
        .string("é e\u{301} 😀 \u{FFFF} \u{10FFFF} \u{2028}"), .array([]), .object(JSONObject()),
        [1, [2, [3, [4]]], ["deep": ["deeper": [.null]]]],
        .object(JSONObject([("z", 1), ("a", "x"), ("", .null), ("k\"\n", [true, false])])),
        ["payload": ["to": "a@b", "n": .number("3.14159"), "tags": ["x", "y"]]],
    ] as [JSONValue])
    func parseOfWrite_returnsTheSameValue(_ value: JSONValue) throws {
        let written = text(value)
        let parsed = try JSONParser.parse(written)
        #expect(parsed == value)
        #expect(sameBytes(parsed, value))
        // Writing again is stable.
        #expect(Array(text(parsed).utf8) == Array(written.utf8))
    }

    /// A value parsed from text with whitespace is written back compactly, in the same order.
    @Test func writeOfParse_isTheCompactForm() throws {
        let parsed = try JSONParser.parse(#" { "b" : [ 1.0 , "\u00e9" ] , "a" : { } } "#)
        #expect(text(parsed) == #"{"b":[1.0,"é"],"a":{}}"#)
    }

    // MARK: RawJSON

    /// RawJSON made from a value holds its compact text and parses back to it.
    @Test func rawJSON_holdsCompactTextAndParsesBack() {
        let raw = RawJSON(["to": "a@b", "n": [1, 2]])
        #expect(raw.text == #"{"to":"a@b","n":[1,2]}"#)
        #expect(raw.description == raw.text)
        #expect(raw.value == ["to": "a@b", "n": [1, 2]])
        #expect(!raw.isNull)
    }

    /// RawJSON null is the text `null`, whether made from the constant or from a value.
    @Test func rawJSONNull_isTheTextNull() {
        #expect(RawJSON.null.text == "null")
        #expect(RawJSON.null.isNull)
        #expect(RawJSON(.null) == .null)
        #expect(RawJSON.null.value == .null)
    }

    /// A trusted RawJSON is copied verbatim into output.
    @Test func trustedRawJSON_isCopiedVerbatim() {
        var writer = JSONWriter()
        writer.beginArray()
        writer.raw(RawJSON(trusted: #"{"b":1,"a":2.50}"#))
        writer.endArray()
        #expect(utf8(writer) == #"[{"b":1,"a":2.50}]"#)
    }
}
