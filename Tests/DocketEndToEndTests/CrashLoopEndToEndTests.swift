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

    /// Mixed clients, `kill -9` at a random moment, restart, and a check of what the round
    /// changed against the database: nothing acknowledged is lost, no job completes twice,
    /// every version has its event and every event a cause, claims never share a version, and
    /// only the holder of the current version completes. The file stays sound throughout.
    @Test func crashLoop_losesNothingAcknowledged() async throws {
        let daemon = try await Daemon()
        var ledger = CrashLedger()
        let started = ContinuousClock.now
        for round in 0..<Self.rounds {
            let history = History()
            let clients = try await (0..<6).asyncMap { index in
                ChaosClient(index: index + round * 100, connection: try await daemon.connect(), history: history)
            }
            let tasks = clients.map { client in Task { await client.run() } }
            try await Task.sleep(for: .milliseconds(Int.random(in: 50...400)))
            daemon.crash()
            for task in tasks { await task.value }
            try await daemon.restart()
            try await ledger.checkRound(history.all, daemon: daemon, round: round)
            // A damaged page stays damaged, so a check every ten rounds misses nothing for long.
            if round % 10 == 9 { try Self.checkIntegrity(daemon) }
        }
        try await ledger.checkEveryJob(daemon)
        try Self.checkIntegrity(daemon)
        print(
            "crash loop: \(Self.rounds) rounds in \(ContinuousClock.now - started), \(ledger.requests) requests, "
                + "\(ledger.acknowledgedCount) acknowledged changes, \(ledger.unanswered) unanswered "
                + "(\(ledger.appliedUnanswered) of them applied), \(ledger.leaseExpiries) lease expiries, nothing lost")
    }

    static func checkIntegrity(_ daemon: Daemon) throws {
        let check = try Daemon.runToExit(["--check", "--db", daemon.databasePath])
        #expect(check.status == 0, "\(check.output)")
    }
}

/// What the crash loop has established so far, so that each round reads only the jobs it
/// touched while the checks still span the whole history.
///
/// A round's window is the events recorded since the previous round's check: the clients'
/// changes of this round and the daemon's lease expiries. Jobs outside it did not change
/// (every change records an event in its own transaction); `checkEveryJob` re-reads them all
/// once at the end, which catches anything lost from a job no later round touched.
struct CrashLedger {
    /// The newest event seq already checked.
    private var checkedSeq: Int64 = 0
    /// Every acknowledged change, by job, for re-checking whenever the job is read.
    private var acknowledged: [Int64: [HistoryEntry]] = [:]
    /// "id@version" of every successful claim, and "id@fence" of every accepted fenced change.
    private var claims = Set<String>()
    private var fences = Set<String>()
    private(set) var requests = 0
    private(set) var acknowledgedCount = 0
    private(set) var unanswered = 0
    private(set) var appliedUnanswered = 0
    private(set) var leaseExpiries = 0

    mutating func checkRound(_ history: [HistoryEntry], daemon: Daemon, round: Int) async throws {
        requests += history.count
        for entry in history where entry.ok == true {
            guard let id = entry.job, entry.version != nil else { continue }
            acknowledged[id, default: []].append(entry)
            acknowledgedCount += 1
        }
        let client = try await daemon.connect()
        defer { Task { await client.close() } }
        let (window, head) = try await Self.events(after: checkedSeq, daemon: daemon)
        #expect(head >= checkedSeq, "round \(round): the latest event went back from \(checkedSeq) to \(head)")
        checkedSeq = max(checkedSeq, head)
        let touched = Set(window.compactMap { $0["job"]?.int }).union(history.compactMap(\.job))
        try await checkJobs(touched, client: client, context: "round \(round)")
        explain(window, by: history, round: round)
        checkFences(history, round: round)
    }

    /// The final pass over every stored job and every job ever acknowledged.
    func checkEveryJob(_ daemon: Daemon) async throws {
        let client = try await daemon.connect()
        defer { Task { await client.close() } }
        var ids = Set(acknowledged.keys)
        var after: Int64 = 0
        while true {
            let page = try await client.send(["op": "list", "queue": "chaos", "limit": 1000, "after": .int(after)])
            for job in page["jobs"]?.array ?? [] { ids.insert(job["id"]!.int!) }
            guard let next = page["next"]?.int else { break }
            after = next
        }
        try await checkJobs(ids, client: client, context: "final pass")
    }

    /// Reads each job with its events in one `get` (one snapshot: leases of clients killed
    /// earlier expire meanwhile) and checks its history and every change acknowledged on it.
    private func checkJobs(_ ids: Set<Int64>, client: DocketConnection, context: String) async throws {
        for id in ids {
            let answer = try await client.send(["op": "get", "job": .int(id), "events": true])
            let events = answer["events"]?.array ?? []
            let version = answer["job"]?["version"]?.int ?? 0
            // Every version has exactly one event, in order: no change went unrecorded.
            let versions = events.compactMap { $0["version"]?.int }
            #expect(versions == Array(1...max(version, 1)), "\(context): job \(id) versions \(versions)")
            let completions = events.filter { $0["type"] == "completed" }.count
            #expect(completions <= 1, "\(context): job \(id) completed \(completions) times")
            for (before, event) in zip(events, events.dropFirst()) where event["type"] == "lease_expired" {
                #expect(before["state"] == "running", "\(context): job \(id) lease expired while \(before["state"]?.string ?? "?")")
            }
            for entry in acknowledged[id] ?? [] {
                let recorded = events.first { $0["version"]?.int == entry.version }
                #expect(recorded.map(entry.matches) == true,
                        "\(context): acknowledged \(entry.op) of job \(id) at version \(entry.version!) is \(recorded.map(JSONWriter.text) ?? "missing")")
            }
        }
    }

    /// Every event of the window has a cause: a change acknowledged in this round, a lease the
    /// daemon expired, or a request whose answer the crash swallowed (each client has at most
    /// one). So a job's version is 1 + its acknowledged changes + lease expiries + at most one
    /// unanswered change per client and round: nothing was applied twice or made up.
    private mutating func explain(_ window: [JSONValue], by history: [HistoryEntry], round: Int) {
        var acknowledgedHere = Set(history.filter { $0.ok == true }.compactMap { entry in
            entry.job.flatMap { id in entry.version.map { "\(id)@\($0)" } }
        })
        var lost = history.filter { $0.ok == nil }
        unanswered += lost.count
        for event in window {
            let key = "\(event["job"]?.int ?? 0)@\(event["version"]?.int ?? 0)"
            if event["type"] == "lease_expired" && event["peer"] == .null {
                leaseExpiries += 1
            } else if acknowledgedHere.contains(key) {
                acknowledgedHere.remove(key)
            } else if let cause = lost.firstIndex(where: { $0.couldHaveMade(event) }) {
                lost.remove(at: cause)
                appliedUnanswered += 1
            } else {
                Issue.record("round \(round): no request explains event \(JSONWriter.text(of: event))")
            }
        }
    }

    /// Claims are linearizable: no two successful claims of a job share a version, every
    /// accepted change was fenced with a version its own client had been given, and no two
    /// changes were accepted at one version (in this round or any earlier one).
    private mutating func checkFences(_ history: [HistoryEntry], round: Int) {
        for entry in history where entry.ok == true && entry.op == "claim" {
            guard let id = entry.job, let version = entry.version else { continue }
            #expect(claims.insert("\(id)@\(version)").inserted, "round \(round): job \(id) claimed twice at version \(version)")
        }
        let given = Set(history.filter { $0.ok == true && $0.state == "running" }.compactMap { entry in
            entry.job.flatMap { id in entry.version.map { "\(entry.client):\(id)@\($0)" } }
        })
        for entry in history.sorted(by: { $0.end < $1.end }) where entry.ok == true && entry.fence != nil {
            #expect(given.contains("\(entry.client):\(entry.job!)@\(entry.fence!)"),
                    "round \(round): \(entry.op) by client \(entry.client) succeeded with a version it never held")
            #expect(fences.insert("\(entry.job!)@\(entry.fence!)").inserted, "round \(round): two changes accepted at one version")
        }
    }

    /// The events after `seq` up to the latest one, replayed by a `watch`, and that latest seq.
    static func events(after seq: Int64, daemon: Daemon) async throws -> (events: [JSONValue], head: Int64) {
        let (lines, sink) = AsyncStream<JSONValue>.makeStream()
        let connection = try await DocketConnection.connect(socketPath: daemon.socketPath) { sink.yield($0) }
        // A connection that drops ends the stream instead of leaving the loop below waiting.
        Task {
            await connection.closed()
            sink.finish()
        }
        defer { Task { await connection.close() } }
        let answer = try await connection.send(["op": "watch", "queue": "chaos", "since": .int(seq)])
        let head = try #require(answer["seq"]?.int, "watch answered \(JSONWriter.text(of: answer))")
        var events: [JSONValue] = []
        guard head > seq else { return (events, head) }
        for await line in lines {
            let event = try #require(line["event"], "the watch ended with \(JSONWriter.text(of: line))")
            guard let eventSeq = event["seq"]?.int, eventSeq <= head else { break }
            events.append(event)
            if eventSeq == head { break }
        }
        #expect(events.last?["seq"]?.int == head, "the replay after \(seq) stopped before \(head)")
        return (events, head)
    }
}

extension HistoryEntry {
    /// The event types this op records when it succeeds.
    var eventTypes: Set<String> {
        switch op {
        case "enqueue": ["enqueued"]
        case "claim": ["claimed"]
        case "progress": ["progress"]
        case "complete": ["completed"]
        case "fail": ["retry_scheduled", "failed"]
        case "cancel": ["cancelled"]
        default: []
        }
    }

    /// Whether `event` records this acknowledged change as it was answered.
    func matches(_ event: JSONValue) -> Bool {
        event["version"]?.int == version && event["state"]?.string == state && eventTypes.contains(event["type"]?.string ?? "")
    }

    /// Whether this unanswered request could have made `event`: the same kind of change, and
    /// for a fenced one the same job, one version past its fence.
    func couldHaveMade(_ event: JSONValue) -> Bool {
        guard ok == nil, eventTypes.contains(event["type"]?.string ?? "") else { return false }
        guard let fence else { return true }
        return event["job"]?.int == job && event["version"]?.int == fence + 1
    }
}

extension Range where Bound == Int {
    func asyncMap<T>(_ body: (Int) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for index in self { result.append(try await body(index)) }
        return result
    }
}
