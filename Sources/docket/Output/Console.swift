import DocketClient
import DocketProtocol

#if canImport(Glibc)
import Glibc
#endif

/// Where output goes, and the facts about the terminal that shape it.
///
/// Lines are written straight to the file descriptor, so `docket watch --json | jq` sees each
/// event when it happens rather than when a buffer fills.
enum Console {
    static func line(_ text: String) {
        write(to: 1, text + "\n")
    }

    static func json(_ value: JSONValue) {
        line(JSONWriter.text(of: value))
    }

    static func standardError(_ text: String) {
        write(to: 2, text + "\n")
    }

    static func write(to descriptor: Int32, _ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { return }  // a closed pipe: nobody is reading any more
            bytes = bytes.dropFirst(written)
        }
    }

    /// Colours and bold only for a person at a terminal who has not asked for none.
    static let styled: Bool = isatty(1) != 0 && DefaultPaths.environment("NO_COLOR") == nil
        && DefaultPaths.environment("TERM") != "dumb"

    /// Now, in milliseconds since the epoch; `$DOCKET_NOW` (RFC 3339) fixes it, so that
    /// relative times in tests and captured examples do not drift.
    static func now() throws -> Int64 {
        if let fixed = DefaultPaths.environment("DOCKET_NOW") {
            guard let time = Timestamp.parse(fixed) else {
                throw CommandFailure(.usage, "DOCKET_NOW=\(fixed) is not an RFC 3339 time like 2026-11-23T06:00:00.000Z")
            }
            return time
        }
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }
}

/// ANSI styles, applied only when `Console.styled`.
enum Style {
    case plain, bold, dim, green, red, yellow, cyan

    func apply(_ text: String) -> String {
        guard Console.styled else { return text }
        let code: String
        switch self {
        case .plain: return text
        case .bold: code = "1"
        case .dim: code = "2"
        case .green: code = "32"
        case .red: code = "31"
        case .yellow: code = "33"
        case .cyan: code = "36"
        }
        return "\u{1B}[\(code)m\(text)\u{1B}[0m"
    }

    static func of(_ state: JobState) -> Style {
        switch state {
        case .pending: return .cyan
        case .running: return .yellow
        case .completed: return .green
        case .failed: return .red
        case .cancelled: return .dim
        }
    }
}
