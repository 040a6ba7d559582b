import DocketClient
import DocketProtocol
import Synchronization

/// Where `docket top`'s figures come from, and the one place that changes its state.
///
/// `watch` drives it: running jobs, failures and completions per second come from events.
/// Once a second it polls `metrics` (the store's counts and each queue's lag; `stats` on a
/// daemon without it), `queue_list` where the daemon has queue controls, and the few running
/// jobs on screen (their lease and progress, which events do not carry). It never lists a
/// whole table after the start.
final class TopFeed: Sendable {
    let client: DocketClient
    let socketPath: String
    private let state = Mutex(TopState())
    /// What the daemon turned down with `unknown_op`, so it is not asked again.
    private let unsupported = Mutex<Set<String>>([])

    /// How many stored events the view replays at the start, for the last failures, the
    /// claim times of running jobs and the first rates.
    static let replayEvents: Int64 = 5000
    /// Running jobs refreshed per poll: about as many as a screen shows.
    static let refreshedJobs = 20

    init(client: DocketClient, socketPath: String) {
        self.client = client
        self.socketPath = socketPath
    }

    var current: TopState { state.withLock { $0 } }

    func update(_ change: (inout TopState) -> Void) {
        state.withLock { change(&$0) }
    }

    /// Starts the view's data: the running jobs as they are, then a watch that replays the
    /// recent events and goes on with the live ones. Returns the seq the replay runs up to.
    func begin() async throws -> (events: AsyncThrowingStream<JobEvent, any Error>, replayedUpTo: Int64) {
        let latest = try await latestSeq()
        let page = try await client.list(state: .running, limit: 1000)
        update { state in page.jobs.forEach { state.apply($0) } }
        let since = max(0, latest - Self.replayEvents)
        let events = try await client.watch(.everything, since: since)
        if since == 0 { update { $0.finishes.seenSince = 0 } }
        return (events, latest)
    }

    /// Applies an event; the first one of a replay that does not reach back to the first
    /// event marks where the rates have seen everything from.
    func receive(_ event: JobEvent) {
        update { state in
            if state.finishes.seenSince == nil { state.finishes.seenSince = event.at }
            state.apply(event)
        }
    }

    /// One poll; a failure becomes the footer's status line, and the next poll tries again.
    func poll() async {
        do {
            if !isUnsupported("metrics") {
                let text = try await ask(["op": "metrics"])?["text"]?.string
                if let text { update { $0.apply(metrics: MetricSamples(text)) } }
            }
            if isUnsupported("metrics") {
                let stats = try await client.stats()
                update { $0.apply(stats: stats) }
            }
            if !isUnsupported("queue_list"), let queues = try await ask(["op": "queue_list"])?["queues"] {
                // An array of queue objects; an object keyed by name is read the same way.
                let list = queues.array ?? (queues.object?.members ?? []).map { member -> JSONValue in
                    guard case .object(var queue) = member.value else { return member.value }
                    queue["name"] = queue["name"] ?? .string(member.key)
                    return .object(queue)
                }
                update { $0.apply(queueList: list) }
            }
            try await refreshRunningJobs()
            update { if $0.status?.hasPrefix("docketd") == true { $0.status = nil } }
        } catch {
            update { $0.status = "docketd does not answer: \(ExitStatus.message(for: error))" }
        }
    }

    /// The jobs on screen, read again: lease and progress, or when a job seen only in the
    /// starting list was claimed (its history, a few jobs per poll).
    private func refreshRunningJobs() async throws {
        let shown = current.runningJobs().prefix(Self.refreshedJobs)
        let unknownAge = shown.filter { $0.claimedAt == nil }.prefix(3).map(\.id)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for job in shown {
                let withHistory = unknownAge.contains(job.id)
                group.addTask { try await self.refresh(job.id, withHistory: withHistory) }
            }
            try await group.waitForAll()
        }
    }

    private func refresh(_ id: Int64, withHistory: Bool) async throws {
        var request = JSONObject([("op", "get"), ("job", .int(id))])
        request["fields"] = ["queue", "state", "worker", "progress", "lease_expires_at"]
        if withHistory { request["events"] = true }
        guard let answer = try await ask(.object(request)), let job = answer["job"], let version = job["version"]?.int64 else {
            update { $0.running[id] = nil }
            return
        }
        let claimedAt = answer["events"]?.array?.last { $0["type"] == "claimed" }?["at"]?.string.flatMap(Timestamp.parse)
        update { state in
            guard var entry = state.running[id], entry.version <= version else { return }
            guard job["state"] == "running" else {
                state.running[id] = nil
                return
            }
            entry.version = version
            entry.worker = job["worker"]?.string
            entry.progress = job["progress"].flatMap { $0.isNull ? nil : JSONWriter.text(of: $0) }
            entry.leaseExpiresAt = job["lease_expires_at"]?.string.flatMap(Timestamp.parse)
            if let claimedAt { entry.claimedAt = claimedAt }
            state.running[id] = entry
        }
    }

    /// Pauses the selected queue, or resumes it, through the queue controls.
    func togglePause() async {
        guard let queue = current.selected else {
            update { $0.status = "select a queue (Up/Down) to pause or resume it" }
            return
        }
        let message: String
        do {
            guard let settings = try await ask(["op": "queue_get", "queue": .string(queue)])?["queue"] else {
                message = "this docketd has no queue controls (queue_get, queue_put)"
                update { $0.status = message }
                return
            }
            let paused = !(settings["paused"]?.bool ?? false)
            let answer = try await client.send(
                ["op": "queue_put", "queue": .string(queue), "version": settings["version"] ?? 0, "paused": .bool(paused)])
            if answer["ok"] == true {
                message = "\(queue) \(paused ? "paused" : "resumed")"
                update { state in
                    if let index = state.queues.firstIndex(where: { $0.name == queue }) { state.queues[index].paused = paused }
                }
            } else {
                message = "cannot \(paused ? "pause" : "resume") \(queue): \(answer["error"]?["message"]?.string ?? "refused")"
            }
        } catch {
            message = "cannot reach docketd: \(ExitStatus.message(for: error))"
        }
        update { $0.status = message }
    }

    /// A read's answer; nil when the daemon does not know the op (remembered) or refuses it.
    private func ask(_ request: JSONValue) async throws -> JSONValue? {
        let answer = try await client.send(request, isRead: true)
        guard answer["ok"] == true else {
            if answer["error"]?["code"] == "unknown_op", let op = request["op"]?.string {
                _ = unsupported.withLock { $0.insert(op) }
            }
            return nil
        }
        return answer
    }

    private func isUnsupported(_ op: String) -> Bool { unsupported.withLock { $0.contains(op) } }

    /// The newest event's seq, from a watch opened and closed at once.
    private func latestSeq() async throws -> Int64 {
        let connection = try await DocketConnection.connect(socketPath: socketPath)
        defer { Task { await connection.close() } }
        let answer = try await connection.send(["op": "watch"])
        guard answer["ok"] == true else {
            throw CommandFailure(.failure, "docketd refused watch: \(answer["error"]?["message"]?.string ?? "no reason given")")
        }
        return answer["seq"]?.int64 ?? 0
    }
}

/// The samples of a `metrics` answer, for `docket top`: only what it shows (job counts by
/// queue and state, queue lag, connections, parked claims) is looked up.
struct MetricSamples {
    struct Sample {
        var name: Substring
        var labels: [(Substring, String)]
        var value: Double
    }

    private(set) var samples: [Sample] = []

    /// Reads the text format's sample lines; comments and lines it cannot read are skipped
    /// (a newer daemon may add metrics; `docket top` needs only its own).
    init(_ text: String) {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            if let sample = Self.sample(line) { samples.append(sample) }
        }
    }

    /// `(queue, value)` of every sample of `name` whose other labels match `where`.
    func byQueue(_ name: String, where filter: [(Substring, String)] = []) -> [String: Double] {
        var result: [String: Double] = [:]
        for sample in samples where sample.name == name {
            guard filter.allSatisfy({ wanted in sample.labels.contains { $0 == wanted.0 && $1 == wanted.1 } }),
                let queue = sample.labels.first(where: { $0.0 == "queue" })?.1
            else { continue }
            result[queue] = sample.value
        }
        return result
    }

    func value(_ name: String) -> Double? {
        samples.first { $0.name == name && $0.labels.isEmpty }?.value
    }

    private static func sample(_ line: Substring) -> Sample? {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { return nil }
        let series = line[..<space]
        guard let open = series.firstIndex(of: "{") else { return Sample(name: series, labels: [], value: value) }
        guard series.last == "}" else { return nil }
        return labels(series[series.index(after: open)..<series.index(before: series.endIndex)])
            .map { Sample(name: series[..<open], labels: $0, value: value) }
    }

    /// `a="x",b="y \"quoted\""` → pairs, with the text format's escapes undone.
    private static func labels(_ text: Substring) -> [(Substring, String)]? {
        var pairs: [(Substring, String)] = []
        var rest = text
        while !rest.isEmpty {
            guard let equals = rest.firstIndex(of: "="), rest[rest.index(after: equals)...].first == "\"" else { return nil }
            let name = rest[..<equals]
            var value = ""
            var index = rest.index(equals, offsetBy: 2)
            var escaped = false
            while index < rest.endIndex {
                let character = rest[index]
                if escaped {
                    value.append(character == "n" ? "\n" : character)
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == "\"" {
                    break
                } else {
                    value.append(character)
                }
                index = rest.index(after: index)
            }
            guard index < rest.endIndex else { return nil }
            pairs.append((name, value))
            rest = rest[rest.index(after: index)...]
            if rest.first == "," { rest = rest.dropFirst() }
        }
        return pairs
    }
}
