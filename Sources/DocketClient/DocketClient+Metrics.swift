import DocketProtocol

extension DocketClient {
    /// The daemon's metrics in the Prometheus text format (0.0.4): what `GET /metrics` of
    /// `docketd --metrics-listen` serves.
    public func metrics() async throws -> String {
        try JSONFields(try await call(["op": "metrics"], resend: .safe), "metrics").string("text")
    }
}
