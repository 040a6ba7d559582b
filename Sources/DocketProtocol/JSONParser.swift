/// A strict JSON parser (RFC 8259) over UTF-8 bytes.
///
/// Written by hand rather than taken from Foundation so that every limit is ours: nesting
/// depth is capped (100,000 nested brackets must cost an error, not the stack), strings must
/// be valid UTF-8 with no lone surrogates, and duplicate keys are refused rather than
/// silently resolved.
public struct JSONParser {
    /// The deepest nesting of arrays and objects accepted.
    public static let maximumDepth = 64

    public struct Failure: Error, Equatable, Sendable {
        public let message: String
        public let offset: Int
    }

    /// Parses one JSON value; `maximumDepth` bounds the nesting of arrays and objects.
    public static func parse(_ bytes: some Collection<UInt8>, maximumDepth: Int = maximumDepth) throws(Failure) -> JSONValue {
        let outcome = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(Failure) in try parse(buffer: buffer, maximumDepth: maximumDepth) }
        }
        if let outcome { return try outcome.get() }
        let copy = Array(bytes)
        return try copy.withUnsafeBufferPointer { buffer throws(Failure) in try parse(buffer: buffer, maximumDepth: maximumDepth) }
    }

    public static func parse(_ text: String, maximumDepth: Int = maximumDepth) throws(Failure) -> JSONValue {
        try parse(Array(text.utf8), maximumDepth: maximumDepth)
    }

    static func parse(buffer: UnsafeBufferPointer<UInt8>, maximumDepth: Int) throws(Failure) -> JSONValue {
        var parser = Cursor(bytes: buffer, maximumDepth: maximumDepth)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.offset == buffer.count else {
            throw parser.failure("unexpected text after the JSON value")
        }
        return value
    }

    struct Cursor {
        let bytes: UnsafeBufferPointer<UInt8>
        let maximumDepth: Int
        var offset = 0

        func failure(_ message: String) -> Failure { Failure(message: message, offset: offset) }

        var current: UInt8? { offset < bytes.count ? bytes[offset] : nil }

        mutating func skipWhitespace() {
            while offset < bytes.count {
                switch bytes[offset] {
                case 0x20, 0x09, 0x0A, 0x0D: offset += 1
                default: return
                }
            }
        }

        mutating func parseValue(depth: Int) throws(Failure) -> JSONValue {
            guard let byte = current else { throw failure("unexpected end of input") }
            switch byte {
            case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
            case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
            case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
            case UInt8(ascii: "n"): try expectLiteral("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
            default: throw failure("unexpected character")
            }
        }

        mutating func expectLiteral(_ literal: StaticString) throws(Failure) {
            let count = literal.utf8CodeUnitCount
            guard bytes.count - offset >= count else { throw failure("invalid literal") }
            let start = literal.utf8Start
            for index in 0..<count where bytes[offset + index] != start[index] {
                throw failure("invalid literal")
            }
            offset += count
        }

        mutating func parseObject(depth: Int) throws(Failure) -> JSONValue {
            guard depth <= maximumDepth else {
                throw failure("nesting deeper than \(maximumDepth) levels")
            }
            offset += 1
            var members: [(key: String, value: JSONValue)] = []
            members.reserveCapacity(8)  // a request's keys in one allocation, not four growing ones
            // Duplicates are sought by a scan of `members` only while the object is small, then in
            // a set: scanning alone cost an object of n keys n²/2 comparisons, and one 1 MiB line
            // of short keys held an event loop for minutes (found by feeding the fuzz target a
            // 64 KiB line of distinct keys, which took over a second). A job has 17 keys: below
            // 32 the scan is cheaper than hashing them all.
            var keys = Set<ByteExactKey>()
            skipWhitespace()
            if current == UInt8(ascii: "}") {
                offset += 1
                return .object(JSONObject(members))
            }
            while true {
                skipWhitespace()
                guard current == UInt8(ascii: "\"") else { throw failure("expected a string key") }
                let key = try parseString()
                let isDuplicate: Bool
                if members.count < 32 {
                    isDuplicate = members.contains { $0.key.hasSameUTF8(as: key) }
                } else {
                    if keys.isEmpty { keys = Set(members.lazy.map { ByteExactKey($0.key) }) }
                    isDuplicate = !keys.insert(ByteExactKey(key)).inserted
                }
                guard !isDuplicate else { throw failure("duplicate key \"\(key)\"") }
                skipWhitespace()
                guard current == UInt8(ascii: ":") else { throw failure("expected ':' after a key") }
                offset += 1
                skipWhitespace()
                let value = try parseValue(depth: depth)
                members.append((key, value))
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): offset += 1
                case UInt8(ascii: "}"): offset += 1; return .object(JSONObject(members))
                default: throw failure("expected ',' or '}' in an object")
                }
            }
        }

        /// A key compared and hashed byte for byte: JSON does not fold Unicode equivalents,
        /// while `String`'s own `==` and hash do.
        struct ByteExactKey: Hashable {
            let text: String

            init(_ text: String) { self.text = text }

            static func == (lhs: Self, rhs: Self) -> Bool { lhs.text.hasSameUTF8(as: rhs.text) }

            func hash(into hasher: inout Hasher) {
                var text = text
                text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
            }
        }

        mutating func parseArray(depth: Int) throws(Failure) -> JSONValue {
            guard depth <= maximumDepth else {
                throw failure("nesting deeper than \(maximumDepth) levels")
            }
            offset += 1
            var elements: [JSONValue] = []
            skipWhitespace()
            if current == UInt8(ascii: "]") {
                offset += 1
                return .array(elements)
            }
            while true {
                skipWhitespace()
                elements.append(try parseValue(depth: depth))
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): offset += 1
                case UInt8(ascii: "]"): offset += 1; return .array(elements)
                default: throw failure("expected ',' or ']' in an array")
                }
            }
        }

        mutating func parseNumber() throws(Failure) -> String {
            let start = offset
            if current == UInt8(ascii: "-") { offset += 1 }
            guard let first = current, isDigit(first) else { throw failure("invalid number") }
            offset += 1
            if first != UInt8(ascii: "0") {
                while let byte = current, isDigit(byte) { offset += 1 }
            }
            if current == UInt8(ascii: ".") {
                offset += 1
                guard let byte = current, isDigit(byte) else { throw failure("invalid number") }
                while let byte = current, isDigit(byte) { offset += 1 }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                offset += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { offset += 1 }
                guard let byte = current, isDigit(byte) else { throw failure("invalid number") }
                while let byte = current, isDigit(byte) { offset += 1 }
            }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<offset]), as: UTF8.self)
        }

        func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

        mutating func parseString() throws(Failure) -> String {
            offset += 1
            let start = offset
            // Fast path: no escapes, so the bytes between the quotes are the string.
            var highBits: UInt8 = 0
            while offset < bytes.count {
                let byte = bytes[offset]
                if byte == UInt8(ascii: "\"") {
                    let raw = UnsafeBufferPointer(rebasing: bytes[start..<offset])
                    // ASCII needs no validation; String(validating:) is not specialized for
                    // us and looked up generic metadata on every call (8% of a client's CPU).
                    let text = highBits < 0x80 ? String(decoding: raw, as: UTF8.self) : String(validating: raw, as: UTF8.self)
                    guard let text else { throw failure("invalid UTF-8 in a string") }
                    offset += 1
                    return text
                }
                if byte == UInt8(ascii: "\\") { break }
                if byte < 0x20 { throw failure("unescaped control character in a string") }
                highBits |= byte
                offset += 1
            }
            var scratch = Array(UnsafeBufferPointer(rebasing: bytes[start..<offset]))
            while true {
                guard let byte = current else { throw failure("unterminated string") }
                offset += 1
                switch byte {
                case UInt8(ascii: "\""):
                    guard let text = String(validating: scratch, as: UTF8.self) else {
                        throw failure("invalid UTF-8 in a string")
                    }
                    return text
                case UInt8(ascii: "\\"):
                    try parseEscape(into: &scratch)
                case 0..<0x20:
                    throw failure("unescaped control character in a string")
                default:
                    scratch.append(byte)
                }
            }
        }

        mutating func parseEscape(into scratch: inout [UInt8]) throws(Failure) {
            guard let byte = current else { throw failure("unterminated escape") }
            offset += 1
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scratch.append(byte)
            case UInt8(ascii: "b"): scratch.append(0x08)
            case UInt8(ascii: "f"): scratch.append(0x0C)
            case UInt8(ascii: "n"): scratch.append(0x0A)
            case UInt8(ascii: "r"): scratch.append(0x0D)
            case UInt8(ascii: "t"): scratch.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try parseHex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    guard current == UInt8(ascii: "\\") else { throw failure("lone surrogate in \\u escape") }
                    offset += 1
                    guard current == UInt8(ascii: "u") else { throw failure("lone surrogate in \\u escape") }
                    offset += 1
                    let low = try parseHex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw failure("lone surrogate in \\u escape") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw failure("lone surrogate in \\u escape")
                }
                guard let unicode = Unicode.Scalar(scalar) else { throw failure("invalid \\u escape") }
                scratch.append(contentsOf: UTF8.encode(unicode)!)
            default:
                throw failure("invalid escape")
            }
        }

        mutating func parseHex4() throws(Failure) -> UInt32 {
            guard bytes.count - offset >= 4 else { throw failure("invalid \\u escape") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[offset]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw failure("invalid \\u escape")
                }
                value = value << 4 | UInt32(digit)
                offset += 1
            }
            return value
        }
    }
}
