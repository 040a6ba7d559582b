import DocketProtocol

/// How jobs and their events look in tables and in `docket show`.
enum JobFormat {
    /// The columns of `docket ls`.
    static func table(_ jobs: [Job], now: Int64) -> Table {
        var table = Table("ID", "QUEUE", "STATE", "TRIES", "VERSION", "UPDATED", "WORKER", "PAYLOAD")
        for job in jobs {
            table.add([
                .init(text: String(job.id)), .init(text: job.queue), .init(text: state(of: job, now: now), style: Style.of(job.state)),
                .init(text: "\(job.attempt)/\(job.maxAttempts)"), .init(text: String(job.version)),
                .init(text: RelativeTime.describe(job.updatedAt, now: now)), .init(text: job.worker ?? "-"),
                .init(text: preview(job.payload)),
            ])
        }
        return table
    }

    /// The state, with when a delayed job becomes due or a running job's lease ends.
    static func state(of job: Job, now: Int64) -> String {
        switch job.state {
        case .pending where job.runAt > now: return "pending (\(RelativeTime.describe(job.runAt, now: now)))"
        case .running:
            guard let lease = job.leaseExpiresAt else { return "running" }
            return "running (lease \(RelativeTime.describe(lease, now: now)))"
        default: return job.state.rawValue
        }
    }

    /// `docket show`: every member, then the history.
    static func details(_ job: Job, events: [JobEvent], now: Int64) -> [String] {
        func time(_ value: Int64?) -> String {
            guard let value else { return "-" }
            return "\(Timestamp.format(milliseconds: value)) (\(RelativeTime.describe(value, now: now)))"
        }
        func ids(_ ids: [Int64]) -> String { ids.isEmpty ? "-" : ids.map(String.init).joined(separator: ", ") }
        var fields: [(String, String)] = [
            ("queue", job.queue), ("version", String(job.version)), ("attempt", "\(job.attempt) of \(job.maxAttempts)"),
            ("priority", String(job.priority)), ("worker", job.worker ?? "-"), ("created", time(job.createdAt)),
            ("updated", time(job.updatedAt)), ("run at", time(job.runAt)), ("lease until", time(job.leaseExpiresAt)),
            ("unique key", job.uniqueKey ?? "-"),
        ]
        // Shown only when set, so the common job reads as before.
        if !job.after.isEmpty { fields += [("after", ids(job.after)), ("waiting for", ids(job.waitingFor))] }
        if let timeout = job.timeoutMs { fields.append(("timeout", DurationArgument.text(timeout))) }
        if let key = job.concurrencyKey { fields.append(("concurrency key", key)) }
        if let traceparent = job.traceparent { fields.append(("traceparent", traceparent)) }
        fields += [
            ("payload", job.payload.text), ("progress", job.progress?.text ?? "-"), ("result", job.result?.text ?? "-"),
            ("last error", job.lastError?.text ?? "-"),
        ]
        var lines = [Style.bold.apply("job \(job.id)") + "  " + Style.of(job.state).apply(state(of: job, now: now))]
        let width = fields.map(\.0.count).max() ?? 0
        lines += fields.map { "  " + $0.0 + String(repeating: " ", count: width - $0.0.count + 2) + $0.1 }
        guard !events.isEmpty else { return lines }
        var history = Table("SEQ", "WHEN", "EVENT", "VERSION", "STATE", "BY", "DATA")
        for event in events {
            history.add([
                .init(text: String(event.seq)), .init(text: RelativeTime.describe(event.at, now: now)),
                .init(text: event.kind.rawValue), .init(text: String(event.version)),
                .init(text: event.state.rawValue, style: Style.of(event.state)), .init(text: event.peer ?? "docketd"),
                .init(text: event.data.map { preview($0) } ?? ""),
            ])
        }
        return lines + ["", Style.bold.apply("history")] + history.render().map { "  " + $0 }
    }

    /// One line per event for `docket watch`: the time of day, since a stream has no fixed "now".
    static func eventLine(_ event: JobEvent) -> String {
        let time = Timestamp.format(milliseconds: event.at).dropFirst(11).dropLast()
        let columns = [
            String(time), "job \(event.job)".padding(8), event.queue.padding(12), event.kind.rawValue.padding(16),
            "v\(event.version)".padding(5), Style.of(event.state).apply(event.state.rawValue.padding(10)),
        ]
        return (columns + [event.data.map { preview($0) } ?? ""]).joined(separator: " ").trailingSpacesRemoved
    }

    /// Compact JSON cut to fit a column.
    static func preview(_ json: RawJSON, limit: Int = 40) -> String {
        json.text.count <= limit ? json.text : String(json.text.prefix(limit - 1)) + "…"
    }
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }

    var trailingSpacesRemoved: String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}
