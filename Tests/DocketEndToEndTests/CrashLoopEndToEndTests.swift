import DocketClient
import DocketProtocol
import Foundation
import Testing

/// One request of the client-side history: what was asked, what came back, and when.
struct HistoryEntry: Sendable {
    var client: Int
    var op: String
    var job: Int64?
    /// The version the request carried (its fence), for fenced ops.
    var fence: Int64?
    /// nil: no answer (the daemon died first), so the outcome is unknown.
    var ok: Bool?
    var code: String?
    /// The job's version and state in the answer.
    var version: Int64?
    var state: String?
    var start: ContinuousClock.Instant
    var end: ContinuousClock.Instant
}

/// Collects the history of every client.
final class History: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [HistoryEntry] = []
    func add(_ entry: HistoryEntry) { lock.withLock { entries.append(entry) } }
    var all: [HistoryEntry] { lock.withLock { entries } }
}

/// A client doing a random mix of every change until its connection dies.
struct ChaosClient {
    let index: Int
    let connection: DocketConnection
    let history: History

    func run() async {
        var held: [(id: Int64, version: Int64)] = []
        var generator = SystemRandomNumberGenerator()
        while true {
            let roll = Int.random(in: 0..<100, using: &generator)
            let request: JSONValue
            var job: Int64?
            var fence: Int64?
            var heldIndex: Int?
            if held.isEmpty || roll < 25 {
                request = roll % 2 == 0 ? ["op": "enqueue", "queue": "chaos", "payload": .int(Int64(roll))] : ["op": "claim", "queue": "chaos", "lease_ms": 60000]
            } else {
                heldIndex = Int.random(in: 0..<held.count, using: &generator)
                let (id, version) = held[heldIndex!]
                job = id
                fence = version
                switch roll {
                case 25..<45: request = ["op": "progress", "job": .int(id), "version": .int(version), "progress": .int(Int64(roll))]
                case 45..<75: request = ["op": "complete", "job": .int(id), "version": .int(version), "result": .int(Int64(roll))]
                case 75..<90: request = ["op": "fail", "job": .int(id), "version": .int(version), "retry": .bool(roll % 2 == 0), "retry_in_ms": 0]
                default: request = ["op": "cancel", "job": .int(id), "version": .int(version)]
                }
            }
            let op = request["op"]?.string ?? "?"
            let start = ContinuousClock.now
            guard let answer = try? await connection.send(request) else {
                history.add(HistoryEntry(client: index, op: op, job: job, fence: fence, start: start, end: .now))
                return
            }
            let answered = answer["job"]
            let entry = HistoryEntry(
                client: index, op: op, job: answered?["id"]?.int ?? job, fence: fence, ok: answer["ok"] == true,
                code: answer["error"]?["code"]?.string, version: answered?["version"]?.int, state: answered?["state"]?.string,
                start: start, end: .now)
            history.add(entry)
            if let heldIndex { held.remove(at: heldIndex) }
            if entry.ok == true, let id = entry.job, let version = entry.version, entry.state == "running" {
                held.append((id, version))
            }
        }
    }
}

@Suite("End to end: crash loop and claim linearizability", .serialized)
struct CrashLoopEndToEndTests {
    /// Rounds of the crash loop: 20 by default, more with DOCKET_CRASH_ROUNDS for a long run.
    static var rounds: Int { ProcessInfo.processInfo.environment["DOCKET_CRASH_ROUNDS"].flatMap(Int.init) ?? 20 }

    /// Mixed clients, `kill -9` at a random moment, restart, and a check of the whole history
    /// against the database, every round: nothing acknowledged is lost, no job completes twice,
    /// every version has its event, claims never share a version, and only the holder of the
    /// current version completes. The file stays sound throughout.
    @Test func crashLoop_losesNothingAcknowledged() async throws {
        let daemon = try await Daemon()
        let history = History()
        for round in 0..<Self.rounds {
            let clients = try await (0..<6).asyncMap { index in
                ChaosClient(index: index + round * 100, connection: try await daemon.connect(), history: history)
            }
            let tasks = clients.map { client in Task { await client.run() } }
            try await Task.sleep(for: .milliseconds(Int.random(in: 50...400)))
            daemon.crash()
            for task in tasks { await task.value }
            try await daemon.restart()
            try await verify(daemon, history.all, round: round)
        }
        let check = try Daemon.runToExit(["--check", "--db", daemon.databasePath])
        #expect(check.status == 0, "\(check.output)")
        let acknowledged = history.all.filter { $0.ok == true }.count
        print("crash loop: \(Self.rounds) rounds, \(history.all.count) requests, \(acknowledged) acknowledged, nothing lost")
    }

    func verify(_ daemon: Daemon, _ history: [HistoryEntry], round: Int) async throws {
        let client = try await daemon.connect()
        defer { Task { await client.close() } }
        var events: [Int64: [JSONValue]] = [:]
        var jobs: [Int64: JSONValue] = [:]
        var after: Int64 = 0
        while true {
            let page = try await client.send(["op": "list", "queue": "chaos", "limit": 1000, "after": .int(after)])
            for job in page["jobs"]?.array ?? [] { jobs[job["id"]!.int!] = job }
            guard let next = page["next"]?.int else { break }
            after = next
        }
        // The job and its events from one `get` (one snapshot): leases of the clients killed in
        // earlier rounds expire while this runs, changing jobs between two separate reads.
        for id in jobs.keys {
            let answer = try await client.send(["op": "get", "job": .int(id), "events": true])
            jobs[id] = answer["job"] ?? jobs[id]
            events[id] = answer["events"]?.array ?? []
        }
        // Every version of every job has exactly one event, in order: no change went unrecorded.
        for (id, job) in jobs {
            let versions = events[id]!.compactMap { $0["version"]?.int }
            #expect(versions == Array(1...job["version"]!.int!), "round \(round): job \(id) versions \(versions)")
            let completions = events[id]!.filter { $0["type"] == "completed" }.count
            #expect(completions <= 1, "round \(round): job \(id) completed \(completions) times")
        }
        // Every acknowledged change is there, at the version it was acknowledged with.
        for entry in history where entry.ok == true {
            guard let id = entry.job, let version = entry.version else { continue }
            let recorded = events[id]?.first { $0["version"]?.int == version }
            #expect(recorded != nil, "round \(round): acknowledged \(entry.op) of job \(id) at version \(version) is missing")
            #expect(recorded?["state"]?.string == entry.state, "round \(round): job \(id) v\(version) state differs")
        }
        // Claims are linearizable: no two successful claims of a job share a version, and every
        // accepted change was fenced with a version its client had been given.
        var claims: [String: Int] = [:]
        for entry in history where entry.ok == true && entry.op == "claim" {
            if let id = entry.job, let version = entry.version { claims["\(id)@\(version)", default: 0] += 1 }
        }
        #expect(claims.values.allSatisfy { $0 == 1 }, "round \(round): a job was claimed twice at one version")
        let given = Set(history.filter { $0.ok == true && $0.state == "running" }.compactMap { entry in
            entry.job.flatMap { id in entry.version.map { "\(entry.client):\(id)@\($0)" } }
        })
        for entry in history where entry.ok == true && entry.fence != nil {
            #expect(given.contains("\(entry.client):\(entry.job!)@\(entry.fence!)"),
                    "round \(round): \(entry.op) by client \(entry.client) succeeded with a version it never held")
        }
        // A stale request never succeeds: no success follows another success at the same fence.
        var used = Set<String>()
        for entry in history.sorted(by: { $0.end < $1.end }) where entry.ok == true && entry.fence != nil {
            #expect(used.insert("\(entry.job!)@\(entry.fence!)").inserted, "round \(round): two changes accepted at one version")
        }
    }
}

extension Range where Bound == Int {
    func asyncMap<T>(_ body: (Int) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for index in self { result.append(try await body(index)) }
        return result
    }
}
