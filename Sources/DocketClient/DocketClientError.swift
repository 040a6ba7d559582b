import DocketProtocol

/// Why a request got no answer from the daemon (as opposed to ``DocketError``, a refusal).
public enum DocketClientError: Error, Sendable, CustomStringConvertible {
    /// Nothing is listening at the socket path (or it may not be opened).
    case cannotConnect(path: String, reason: String)
    /// The connection closed before the answer arrived; the request may or may not have applied.
    case connectionClosed
    /// The daemon sent a line that is not a JSON object, or an answer missing a member.
    case invalidResponse(String)
    /// The daemon speaks a protocol version this client does not.
    case unsupportedProtocol(Int64)

    public var description: String {
        switch self {
        case .cannotConnect(let path, let reason):
            return "cannot connect to docketd at \(path): \(reason). Is docketd running? Set --socket or $DOCKET_SOCKET."
        case .connectionClosed:
            return "the connection to docketd closed before the answer arrived; the request may or may not have been applied"
        case .invalidResponse(let detail):
            return "docketd sent an answer this client cannot read: \(detail.prefix(200))"
        case .unsupportedProtocol(let version):
            return "docketd speaks protocol \(version); this client speaks protocol 1. Use a docket of the daemon's release."
        }
    }
}
