/// Which members of a job an answer carries: the `fields` of a request. `id` and `version`
/// are always there, since a client needs them to send the next change.
///
/// A worker reporting progress on a job with a large payload need not get the payload back
/// every time: `"fields": ["state"]` answers with `id`, `version` and `state` alone.
public struct JobFields: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let queue = JobFields(rawValue: 1 << 0)
    public static let state = JobFields(rawValue: 1 << 1)
    public static let priority = JobFields(rawValue: 1 << 2)
    public static let payload = JobFields(rawValue: 1 << 3)
    public static let attempt = JobFields(rawValue: 1 << 4)
    public static let maxAttempts = JobFields(rawValue: 1 << 5)
    public static let runAt = JobFields(rawValue: 1 << 6)
    public static let createdAt = JobFields(rawValue: 1 << 7)
    public static let updatedAt = JobFields(rawValue: 1 << 8)
    public static let leaseExpiresAt = JobFields(rawValue: 1 << 9)
    public static let worker = JobFields(rawValue: 1 << 10)
    public static let progress = JobFields(rawValue: 1 << 11)
    public static let result = JobFields(rawValue: 1 << 12)
    public static let lastError = JobFields(rawValue: 1 << 13)
    public static let uniqueKey = JobFields(rawValue: 1 << 14)
    public static let concurrencyKey = JobFields(rawValue: 1 << 15)
    public static let timeoutMs = JobFields(rawValue: 1 << 16)
    public static let traceparent = JobFields(rawValue: 1 << 17)
    public static let tracestate = JobFields(rawValue: 1 << 18)
    public static let after = JobFields(rawValue: 1 << 19)
    public static let waitingFor = JobFields(rawValue: 1 << 20)

    public static let all = JobFields(rawValue: (1 << 21) - 1)

    /// Every job member's wire name with its flag, in the order a job is written.
    public static let members: [(name: String, field: JobFields)] = [
        ("id", []), ("queue", .queue), ("state", .state), ("version", []), ("priority", .priority), ("payload", .payload),
        ("attempt", .attempt), ("max_attempts", .maxAttempts), ("run_at", .runAt), ("created_at", .createdAt),
        ("updated_at", .updatedAt), ("lease_expires_at", .leaseExpiresAt), ("worker", .worker), ("progress", .progress),
        ("result", .result), ("last_error", .lastError), ("unique_key", .uniqueKey),
        ("concurrency_key", .concurrencyKey), ("timeout_ms", .timeoutMs), ("traceparent", .traceparent),
        ("tracestate", .tracestate), ("after", .after), ("waiting_for", .waitingFor),
    ]

    /// The fields named; nil names one that is not a job member.
    public init?(names: [String]) {
        var fields: JobFields = []
        for name in names {
            guard let member = Self.members.first(where: { $0.name == name }) else { return nil }
            fields.formUnion(member.field)
        }
        self = fields
    }
}
