import DocketProtocol

/// Why a request through `DocketConnection` got no answer.
public enum DocketClientError: Error, Sendable, CustomStringConvertible {
    /// Nothing is listening at the socket path (or it may not be opened).
    case cannotConnect(path: String, reason: String)
    /// The connection closed before the answer arrived; the request may or may not have applied.
    case connectionClosed
    /// The daemon sent a line that is not a JSON object.
    case invalidResponse(String)

    public var description: String {
        switch self {
        case .cannotConnect(let path, let reason):
            return "cannot connect to docketd at \(path): \(reason). Is docketd running? Set --socket or $DOCKET_SOCKET."
        case .connectionClosed:
            return "the connection to docketd closed before the answer arrived"
        case .invalidResponse(let line):
            return "docketd sent an answer that is not a JSON object: \(line.prefix(200))"
        }
    }
}
