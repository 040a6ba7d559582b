/// W3C Trace Context (https://www.w3.org/TR/trace-context/): the form of `traceparent` and
/// `tracestate`, checked so a worker never exports something its tracer would choke on.
public enum TraceContext {
    /// `version-traceid-parentid-flags`, lowercase hex: 2-32-16-2 digits; version ff is
    /// invalid, and an all-zero trace or parent id means none.
    public static func isValidTraceparent(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts.map(\.count).prefix(4) == [2, 32, 16, 2],
            parts.allSatisfy({ $0.allSatisfy(isLowerHex) }), parts[0] != "ff",
            parts[1].contains(where: { $0 != "0" }), parts[2].contains(where: { $0 != "0" })
        else { return false }
        // Version 00 has exactly four fields; later versions may append more.
        return parts[0] == "00" ? parts.count == 4 : true
    }

    /// At most 32 comma-separated `key=value` members and 512 bytes: keys of lowercase
    /// letters, digits and `_-*/@`, values of printable ASCII without `,` and `=`.
    public static func isValidTracestate(_ text: String) -> Bool {
        guard text.utf8.count <= 512 else { return false }
        let members = text.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.drop(while: { $0 == " " || $0 == "\t" }) }
            .map { $0.reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed() }
            .filter { !$0.isEmpty }
        guard members.count <= 32 else { return false }
        return members.allSatisfy { member in
            let pair = member.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pair.count == 2, let first = pair[0].first, (1...256).contains(pair[0].count), (1...256).contains(pair[1].count)
            else { return false }
            let keyCharacters = pair[0].allSatisfy { isLowerHexOrLetter($0) || "_-*/@".contains($0) }
            let valueCharacters = pair[1].allSatisfy { $0.isASCII && $0 >= " " && $0 <= "~" && $0 != "," && $0 != "=" }
            return (first.isASCII && (first.isLowercase || first.isNumber)) && keyCharacters && valueCharacters
                && pair[1].last != " "
        }
    }

    private static func isLowerHex(_ character: Character) -> Bool {
        character.isASCII && (character.isNumber || ("a"..."f").contains(character))
    }

    private static func isLowerHexOrLetter(_ character: Character) -> Bool {
        character.isASCII && (character.isNumber || character.isLowercase)
    }
}

extension Fields {
    /// `traceparent` or `tracestate`: a string of W3C Trace Context form.
    func traceContext(_ key: String, _ isValid: (String) -> Bool) throws(ProtocolError) -> String? {
        guard let text = try optionalString(key, maxBytes: 512) else { return nil }
        guard isValid(text) else {
            throw .badRequest(
                "field '\(prefix)\(key)' is not a W3C Trace Context \(key) (https://www.w3.org/TR/trace-context/)"
                    + (key == "traceparent" ? ", such as 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" : ""))
        }
        return text
    }
}
