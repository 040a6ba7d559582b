/// "3m ago", "in 20s", "now": the largest whole unit, as `kubectl` and `docker ps` show ages.
enum RelativeTime {
    static func describe(_ time: Int64, now: Int64) -> String {
        let delta = time - now
        guard delta.magnitude >= 1000 else { return "now" }
        return delta < 0 ? "\(span(delta.magnitude)) ago" : "in \(span(delta.magnitude))"
    }

    /// A length of time in its largest whole unit: "45s", "3m", "2h", "6d".
    static func span(_ milliseconds: UInt64) -> String {
        let seconds = milliseconds / 1000
        switch seconds {
        case ..<60: return "\(seconds)s"
        case ..<3600: return "\(seconds / 60)m"
        case ..<86_400: return "\(seconds / 3600)h"
        default: return "\(seconds / 86_400)d"
        }
    }
}
