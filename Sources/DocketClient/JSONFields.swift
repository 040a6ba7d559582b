import DocketProtocol

/// Typed member access on an answer object; a missing or mistyped member names itself in the
/// error, so a client/daemon mismatch is reported as such instead of as a crash.
struct JSONFields {
    let value: JSONValue
    /// What the object is (`job`, `event`, ...), for error messages.
    let what: String

    init(_ value: JSONValue, _ what: String) throws {
        guard value.object != nil else { throw DocketClientError.invalidResponse("\(what) is \(value.typeName), not an object") }
        self.value = value
        self.what = what
    }

    private func missing(_ key: String, _ expected: String) -> DocketClientError {
        .invalidResponse("\(what).\(key) is missing or not \(expected)")
    }

    func int(_ key: String) throws -> Int64 {
        guard let number = value[key]?.int64 else { throw missing(key, "an integer") }
        return number
    }

    func string(_ key: String) throws -> String {
        guard let text = value[key]?.string else { throw missing(key, "a string") }
        return text
    }

    func optionalString(_ key: String) throws -> String? {
        guard let member = value[key], !member.isNull else { return nil }
        guard let text = member.string else { throw missing(key, "a string") }
        return text
    }

    func bool(_ key: String) throws -> Bool {
        guard let flag = value[key]?.bool else { throw missing(key, "a boolean") }
        return flag
    }

    /// An RFC 3339 time, as milliseconds since the epoch.
    func time(_ key: String) throws -> Int64 {
        guard let text = value[key]?.string, let time = Timestamp.parse(text) else { throw missing(key, "a time") }
        return time
    }

    func optionalTime(_ key: String) throws -> Int64? {
        guard let member = value[key], !member.isNull else { return nil }
        return try time(key)
    }

    func state(_ key: String) throws -> JobState {
        guard let state = value[key]?.string.flatMap(JobState.init(rawValue:)) else { throw missing(key, "a job state") }
        return state
    }

    /// Any JSON; an absent member reads as `null`.
    func json(_ key: String) -> RawJSON {
        RawJSON(value[key] ?? .null)
    }

    /// Any JSON, `nil` for `null` or absent (how `Job` keeps progress, result and error).
    func optionalJSON(_ key: String) -> RawJSON? {
        guard let member = value[key], !member.isNull else { return nil }
        return RawJSON(member)
    }

    func array(_ key: String) throws -> [JSONValue] {
        guard let elements = value[key]?.array else { throw missing(key, "an array") }
        return elements
    }
}
