/// Which output of a worker's command a log line came from.
public enum LogStream: String, Sendable, CaseIterable {
    case stdout, stderr
}

/// `log`: text appended to a running job's log; the version must match and stays as it is.
public struct LogRequest: Sendable, Equatable {
    public var fence: JobVersion
    public var text: String
    public var stream: LogStream

    public init(fence: JobVersion, text: String, stream: LogStream = .stdout) {
        self.fence = fence
        self.text = text
        self.stream = stream
    }

    /// The event's `data`: `{"stream", "text"}`.
    public var eventData: RawJSON {
        RawJSON(["stream": .string(stream.rawValue), "text": .string(text)])
    }

    /// The most log kept per job, counted in the bytes of its events' `data`; older lines go first.
    public static let maxBytesPerJob: Int64 = 1 << 20
}
