import DocketClient
import DocketProtocol
import DocketTestSupport
import Foundation

/// A scrape as `prometheus_client`'s parser reads it (through `contrib/prometheus/check_scrape.py`).
struct Scrape {
    struct Family {
        let type: String
        let help: String
    }

    let families: [String: Family]
    let samples: [(name: String, labels: [String: String], value: Double)]

    /// The value of the sample with exactly these labels.
    func value(_ name: String, _ labels: [String: String]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }

    static let contrib = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("contrib")

    /// Parses `text` with the real parser; `uses` are files whose docket_* names must all be in it.
    static func parse(_ text: String, uses: [URL] = []) async throws -> Scrape {
        let file = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("scrape-\(UUID().uuidString).txt")
        try text.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let script = contrib.appendingPathComponent("prometheus/check_scrape.py").path
        let run = try await Tool.run(["python3", script, file.path] + (uses.isEmpty ? [] : ["--uses"] + uses.map(\.path)))
        guard let answer = try? JSONParser.parse(Array(run.stdout.utf8)), case .object(let object) = answer else {
            throw DaemonFailure("check_scrape.py failed (\(run.status)): \(run.stderr)\n\(text.prefix(2000))")
        }
        guard run.status == 0 else {
            throw DaemonFailure("the scrape does not pass check_scrape.py: \(JSONWriter.text(of: answer))")
        }
        var families: [String: Family] = [:]
        for (name, family) in object["families"]?.object?.members ?? [] {
            families[name] = Family(type: family["type"]?.string ?? "", help: family["help"]?.string ?? "")
        }
        let samples = (object["samples"]?.array ?? []).map { sample in
            let parts = sample.array ?? []
            let labels = (parts.count > 1 ? parts[1].object?.members ?? [] : []).reduce(into: [String: String]()) {
                $0[$1.key] = $1.value.string
            }
            var value = Double.nan
            if parts.count > 2, case .number(let text) = parts[2] { value = Double(text) ?? .nan }
            return (name: parts.first?.string ?? "", labels: labels, value: value)
        }
        return Scrape(families: families, samples: samples)
    }

    static func viaOp(_ connection: DocketConnection) async throws -> String {
        let answer = try await connection.send(["op": "metrics"])
        guard answer["ok"] == true, let text = answer["text"]?.string else { throw DaemonFailure("metrics failed: \(answer)") }
        return text
    }

    /// The address the daemon logged for `--metrics-listen 127.0.0.1:0`.
    static func url(_ daemon: Daemon) throws -> String {
        guard let range = daemon.log.range(of: #"http://[^ ]+/metrics"#, options: .regularExpression) else {
            throw DaemonFailure("docketd logged no metrics address:\n\(daemon.log)")
        }
        return String(daemon.log[range])
    }

    /// `curl` of `GET /metrics`: status, headers (lower-cased names) and body.
    static func viaHTTP(_ daemon: Daemon) async throws -> (status: Int, headers: [String: String], body: String) {
        let headers = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("headers-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: headers) }
        let run = try await Tool.run(["curl", "-s", "-S", "-D", headers.path, try url(daemon)])
        guard run.status == 0 else { throw DaemonFailure("curl failed (\(run.status)): \(run.stderr)") }
        let lines = ((try? String(contentsOf: headers, encoding: .utf8)) ?? "").components(separatedBy: "\r\n")
        var fields: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let status = Int(lines.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        return (status, fields, run.stdout)
    }
}

/// The workload whose every figure the metrics must report exactly.
struct Workload {
    struct Figures {
        var enqueued = 0
        var claimed = 0
        var completed = 0
        var failed = 0
        var running = 0
    }

    var figures: [String: Figures] = [:]
    /// A job that ended completed, for a stale request.
    var completedJob: Int64 = 0

    /// 1,000 jobs (600 in mail, 400 in report), all claimed; 50 failed once and claimed again;
    /// then 700 completed, 200 failed for good, 100 left running. Requests go 100 at a time,
    /// pipelined, as a busy client's would.
    static func run(on client: DocketConnection) async throws -> Workload {
        var work = Workload()
        for batch in 0..<10 {
            let queue = batch < 6 ? "mail" : "report"
            let jobs: [JSONValue] = (0..<100).map { _ in ["queue": .string(queue), "max_attempts": 5] }
            let answer = try await client.send(["op": "enqueue", "jobs": .array(jobs)])
            guard answer["ok"] == true else { throw DaemonFailure("enqueue failed: \(answer)") }
            work.figures[queue, default: Figures()].enqueued += 100
        }
        var running = try await claim(1000, on: client, into: &work)
        let retried = Array(running.prefix(50))
        try await each(retried, on: client) { ["op": "fail", "job": .int($0.id), "version": .int($0.version), "retry_in_ms": 0] }
        running = Array(running.dropFirst(50)) + (try await claim(50, on: client, into: &work))
        let (completing, rest) = (running.prefix(700), running.dropFirst(700))
        try await each(Array(completing), on: client) { ["op": "complete", "job": .int($0.id), "version": .int($0.version)] }
        try await each(Array(rest.prefix(200)), on: client) {
            ["op": "fail", "job": .int($0.id), "version": .int($0.version), "retry": false]
        }
        for job in completing { work.figures[job.queue]!.completed += 1 }
        for job in rest.prefix(200) { work.figures[job.queue]!.failed += 1 }
        for job in rest.dropFirst(200) { work.figures[job.queue]!.running += 1 }
        work.completedJob = completing.first!.id
        return work
    }

    typealias Claimed = (id: Int64, version: Int64, queue: String)

    private static func claim(_ count: Int, on client: DocketConnection, into work: inout Workload) async throws -> [Claimed] {
        var claimed: [Claimed] = []
        for start in stride(from: 0, to: count, by: 100) {
            claimed += try await withThrowingTaskGroup(of: Claimed.self) { group in
                for _ in start..<min(count, start + 100) {
                    group.addTask {
                        let job = try await client.job(["op": "claim", "queues": ["mail", "report"], "lease_ms": 600_000, "wait_ms": 5000])
                        guard let id = job["id"]?.int, let version = job["version"]?.int, let queue = job["queue"]?.string else {
                            throw DaemonFailure("a claim found no job: \(job)")
                        }
                        return (id, version, queue)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
        for job in claimed { work.figures[job.queue]!.claimed += 1 }
        return claimed
    }

    private static func each(_ jobs: [Claimed], on client: DocketConnection, _ request: @escaping @Sendable (Claimed) -> JSONValue)
        async throws
    {
        for start in stride(from: 0, to: jobs.count, by: 100) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for job in jobs[start..<min(jobs.count, start + 100)] { group.addTask { _ = try await client.job(request(job)) } }
                try await group.waitForAll()
            }
        }
    }
}

enum Eventually {
    /// Polls `probe` every 50 ms until it returns a value; throws after `within`.
    static func value<T>(within timeout: Duration, _ probe: () async throws -> T?) async throws -> T {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let value = try await probe() { return value }
            guard ContinuousClock.now < deadline else { throw DaemonFailure("timed out after \(timeout)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}
