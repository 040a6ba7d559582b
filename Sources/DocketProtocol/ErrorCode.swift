/// The error codes of the contract. Add codes, never rename them.
public enum ErrorCode: String, Sendable, Equatable, CaseIterable {
    /// Not JSON, not an object, a field missing, of the wrong type or out of range.
    case badRequest = "bad_request"
    case unknownOp = "unknown_op"
    case notFound = "not_found"
    /// The request's `version` is not the job's; `error.job` tells the present one.
    case staleVersion = "stale_version"
    /// The version matches but the op is not allowed in the job's state.
    case invalidState = "invalid_state"
    /// The line is over `max_line_bytes`; the connection is closed after the reply.
    case tooLarge = "too_large"
    /// The peer is not allowed; the connection is closed after the reply.
    case forbidden
    case shuttingDown = "shutting_down"
    /// Storage failed; the request was not applied.
    case `internal`
}

/// An error answer: a code, a sentence for people, and for version conflicts the job's present.
public struct ProtocolError: Error, Sendable, Equatable {
    public var code: ErrorCode
    public var message: String
    public var job: JobReference?

    public init(_ code: ErrorCode, _ message: String, job: JobReference? = nil) {
        self.code = code
        self.message = message
        self.job = job
    }

    public static func badRequest(_ message: String) -> ProtocolError { ProtocolError(.badRequest, message) }
}
