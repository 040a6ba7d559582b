import DocketProtocol

/// Lays `TopState` out as lines of text: a screen of `width` × `height`, or with no height a
/// snapshot for a pipe (every queue, the 20 longest-running jobs, the last 10 failures).
///
/// The layout for 80 × 24 (the smallest it is made for; more rows go to the tables):
///
///     docket top: docketd 0.1.0 (sqlite) on /run/docket/docket.sock      09:41:07 UTC
///     4 connections, 2 waiting claims, 38.2 completed/s, 0.4 failed/s
///       QUEUE                 PENDING  RUNNING   DONE/S  FAIL/S      LAG  STATE
///     > (all queues)             1203       13     38.2     0.4     3.2s
///       emails                   1203       12     38.1     0.4     3.2s  paused
///     RUNNING (all queues) 13
///       ID       QUEUE          WORKER           AGE    PROGRESS           LEASE
///       1042     emails         agent-7          3m     {"pct":50}         25s
///     LAST FAILURES (all queues)
///       09:41:02 #1038    emails       final  {"code":"smtp","message":"550"}
///     q quit  Up/Down select a queue  p pause/resume it
struct TopScreen {
    let state: TopState
    let width: Int
    let now: Int64
    /// The first line's left side: the daemon and its socket.
    let title: String
    let styled: Bool

    func lines(height: Int?) -> [String] {
        let fixed = 7
        let rest = height.map { max($0 - fixed, 6) }
        let queueRows = rest.map { min(state.queues.count + 1, max(2, $0 * 2 / 5)) } ?? state.queues.count + 1
        let failureRows = rest.map { max(2, $0 / 4) } ?? 10
        let runningRows = rest.map { $0 - queueRows - failureRows } ?? 20
        var out = [titleLine(), summaryLine(), style(bold: true, queueHeader)]
        out += queueLines(rows: queueRows, marksSelection: height != nil)
        out += runningLines(rows: runningRows)
        out += failureLines(rows: failureRows)
        // A snapshot has no keys to tell of.
        guard let height else { return out.map(clip) }
        while out.count < height - 1 { out.append("") }
        return (out.prefix(height - 1) + [footer()]).map(clip)
    }

    private var scope: String { state.selected ?? "all queues" }

    private func titleLine() -> String {
        let clock = String(Timestamp.format(milliseconds: now).dropFirst(11).prefix(8)) + " UTC"
        return style(bold: true, pad(title, width - clock.count - 1) + " " + clock)
    }

    private func summaryLine() -> String {
        let rates = state.finishes.rate(nil, now: now)
        var parts: [String] = []
        if let connections = state.connections { parts.append(counted(connections, "connection")) }
        if let waiting = state.waitingClaims { parts.append(counted(waiting, "waiting claim")) }
        parts.append("\(Self.rate(rates.completed)) completed/s")
        parts.append("\(Self.rate(rates.failed)) failed/s")
        return parts.joined(separator: ", ")
    }

    private let queueHeader =
        "  " + pad("QUEUE", 20) + " " + lpad("PENDING", 8) + " " + lpad("RUNNING", 8) + " " + lpad("DONE/S", 8) + " "
        + lpad("FAIL/S", 7) + " " + lpad("LAG", 8) + "  STATE"

    private func queueLines(rows: Int, marksSelection: Bool) -> [String] {
        let total = TopState.QueueRow(
            name: "(all queues)", pending: state.queues.map(\.pending).reduce(0, +), running: state.queues.map(\.running).reduce(0, +),
            lag: state.queues.compactMap(\.lag).max())
        let all: [(row: TopState.QueueRow, selector: String?)] = [(total, nil)] + state.queues.map { ($0, $0.name) }
        let selectedIndex = all.firstIndex { $0.selector == state.selected } ?? 0
        let first = max(0, min(selectedIndex - rows + 1, all.count - rows))
        return all.dropFirst(max(first, 0)).prefix(rows).map { row, selector in
            let rates = state.finishes.rate(selector, now: now)
            let settings = [row.paused ? "paused" : nil, row.limits].compactMap { $0 }.joined(separator: " ")
            let text =
                pad(row.name, 20) + " " + lpad(String(row.pending), 8) + " " + lpad(String(row.running), 8) + " "
                + lpad(Self.rate(rates.completed), 8) + " " + lpad(Self.rate(rates.failed), 7) + " "
                + lpad(row.lag.map(Self.lag) ?? "-", 8) + "  " + settings
            let selected = marksSelection && selector == state.selected
            let line = (selected ? "> " : "  ") + text
            return selected && styled ? "\u{1B}[7m" + pad(line, width) + "\u{1B}[0m" : line
        }
    }

    private func runningLines(rows: Int) -> [String] {
        let jobs = state.runningJobs()
        var out = [style(bold: true, "RUNNING (\(scope)) \(jobs.count)")]
        out.append(
            "  " + pad("ID", 8) + " " + pad("QUEUE", 14) + " " + pad("WORKER", 16) + " " + pad("AGE", 6) + " "
                + pad("PROGRESS", max(width - 60, 8)) + " LEASE")
        if jobs.isEmpty { return out + ["  (none)"] }
        for job in jobs.prefix(max(rows, 1)) {
            let age = job.claimedAt.map { RelativeTime.span(UInt64(max(now - $0, 0))) } ?? "?"
            let lease = job.leaseExpiresAt.map { $0 > now ? RelativeTime.span(UInt64($0 - now)) : "passed" } ?? "-"
            out.append(
                "  " + pad(String(job.id), 8) + " " + pad(job.queue, 14) + " " + pad(job.worker ?? "-", 16) + " " + pad(age, 6) + " "
                    + pad(job.progress ?? "-", max(width - 60, 8)) + " " + lease)
        }
        return out
    }

    private func failureLines(rows: Int) -> [String] {
        let failures = state.failures.filter { state.shows($0.queue) }
        var out = [style(bold: true, "LAST FAILURES (\(scope))")]
        if failures.isEmpty { return out + ["  (none)"] }
        for failure in failures.prefix(max(rows, 1)) {
            let time = String(Timestamp.format(milliseconds: failure.at).dropFirst(11).prefix(8))
            let line =
                "  " + time + " " + pad("#\(failure.job)", 8) + " " + pad(failure.queue, 12) + " "
                + pad(failure.final ? "final" : "retry", 6) + " " + failure.error
            out.append(failure.final && styled ? "\u{1B}[31m" + clip(line) + "\u{1B}[0m" : line)
        }
        return out
    }

    private func footer() -> String {
        guard let status = state.status else { return "q quit  Up/Down select a queue  p pause/resume it" }
        return "q quit  Up/Down queue  p pause | " + status
    }

    // MARK: Text

    static func rate(_ perSecond: Double) -> String {
        if perSecond == 0 { return "0" }
        if perSecond >= 100 { return String(Int(perSecond.rounded())) }
        let tenths = Int((perSecond * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }

    static func lag(_ seconds: Double) -> String {
        if seconds <= 0 { return "0s" }
        if seconds < 10 {
            let tenths = Int((seconds * 10).rounded())
            return "\(tenths / 10).\(tenths % 10)s"
        }
        return RelativeTime.span(UInt64(seconds * 1000))
    }

    private func style(bold: Bool, _ text: String) -> String {
        bold && styled ? "\u{1B}[1m" + clip(text) + "\u{1B}[0m" : text
    }

    /// At most `width` characters of text (escape sequences do not count), without trailing blanks.
    private func clip(_ line: String) -> String {
        var visible = 0
        var out = ""
        var inEscape = false
        for character in line {
            if character == "\u{1B}" { inEscape = true }
            if inEscape {
                out.append(character)
                if character.isLetter && character != "[" { inEscape = false }
                continue
            }
            guard visible < width else { continue }
            out.append(character == "\n" || character == "\t" ? " " : character)
            visible += 1
        }
        while out.last == " " { out.removeLast() }
        return out
    }
}

private func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? String(text.prefix(max(width, 0))) : text + String(repeating: " ", count: width - text.count)
}

private func lpad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
}
