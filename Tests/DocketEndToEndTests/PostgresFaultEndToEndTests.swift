import DocketClient
import DocketProtocol
import DocketTestSupport
import Foundation
import Testing

/// What each request of a load learnt, by the payload that names it.
final class Outcomes: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var acknowledged: [Int64: Int64] = [:]  // payload → job id
    private(set) var notApplied = Set<Int64>()
    private(set) var inDoubt = Set<Int64>()
    private(set) var otherErrors: [String] = []

    func record(_ payload: Int64, _ answer: JSONValue) {
        lock.withLock {
            if answer["ok"] == true, let id = answer["job"]?["id"]?.int {
                acknowledged[payload] = id
            } else if answer.errorCode == "unavailable" {
                notApplied.insert(payload)
            } else if answer.errorCode == "in_doubt" {
                inDoubt.insert(payload)
            } else {
                otherErrors.append(JSONWriter.text(of: answer))
            }
        }
    }

    var snapshot: (acknowledged: [Int64: Int64], notApplied: Set<Int64>, inDoubt: Set<Int64>, other: [String]) {
        lock.withLock { (acknowledged, notApplied, inDoubt, otherErrors) }
    }
}

/// The database server crashing, restarting or staying away while a daemon serves a load:
/// answers are `unavailable` (not applied) or `in_doubt`, never a false "applied" or "not
/// applied"; the daemon reconnects by itself; nothing acknowledged is lost; parked claims
/// and watches carry on.
@Suite("End to end: PostgreSQL faults", .enabled(if: TestPostgres.Cluster.isAvailable, "needs PostgreSQL installed"))
struct PostgresFaultEndToEndTests {
    enum Outage: String, CaseIterable, CustomTestStringConvertible {
        /// A crash (immediate stop) and an immediate restart.
        case restart
        /// Down for 30 seconds.
        case thirtySeconds
        var testDescription: String { rawValue }
        var downFor: Duration { self == .restart ? .zero : .seconds(30) }
    }

    @Test(arguments: Outage.allCases) func outageUnderLoad_losesNothingAndRecovers(_ outage: Outage) async throws {
        let cluster = try await offload { try TestPostgres.Cluster() }
        try await offload { try TestPostgres.psql(cluster.url, "CREATE DATABASE docket") }
        let url = cluster.url.replacingOccurrences(of: "/postgres?", with: "/docket?")
        let daemon = try await Daemon(arguments: [], postgresURL: url)
        let outcomes = Outcomes()
        let stop = ManagedFlag()
        let writers = (0..<4).map { writer in
            Task {
                let client = try await daemon.connect()
                var index: Int64 = 0
                while !stop.isSet {
                    let payload = Int64(writer) * 1_000_000 + index
                    index += 1
                    outcomes.record(payload, try await client.send(["op": "enqueue", "queue": "load", "payload": .int(payload)]))
                    if outcomes.snapshot.notApplied.count > 2000 { try await Task.sleep(for: .milliseconds(20)) }
                }
                await client.close()
            }
        }
        // A claim parked before the outage, and a watch following the queue it waits on.
        let parker = try await daemon.connect()
        let parked = Task { try await parker.send(["op": "claim", "queue": "parked", "wait_ms": 120_000]) }
        let watch = try RawSocket(path: daemon.socketPath)
        try await watch.send("{\"op\":\"watch\",\"queue\":\"parked\"}\n")
        _ = try await watch.readJSON()
        while outcomes.snapshot.acknowledged.count < 200 { try await Task.sleep(for: .milliseconds(10)) }

        try await offload { cluster.stop(immediate: true) }
        try await Task.sleep(for: .milliseconds(300) + outage.downFor)
        #expect(!outcomes.snapshot.notApplied.isEmpty, "requests during the outage were answered unavailable")
        try await offload { try cluster.start() }
        let acknowledgedBefore = outcomes.snapshot.acknowledged.count
        let deadline = ContinuousClock.now + .seconds(20)
        while outcomes.snapshot.acknowledged.count < acknowledgedBefore + 200, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        stop.set()
        for writer in writers { try await writer.value }
        #expect(daemon.process.isRunning, "docketd rode out the outage")

        // The parked claim is still waiting and is served; the watch sees the job's events.
        let client = try await daemon.connect()
        let job = try await client.job(["op": "enqueue", "queue": "parked", "payload": "after"])
        let claim = try await parked.value
        #expect(claim["job"]?["id"] == job["id"], "the claim parked before the outage got the job: \(claim)")
        var watched: [String] = []
        while watched.count < 2 {
            guard let event = try await watch.readJSON()["event"] as? [String: Any] else { continue }
            watched.append(event["type"] as? String ?? "?")
        }
        #expect(watched == ["enqueued", "claimed"])

        // Every acknowledged job is stored; none answered unavailable is.
        let result = outcomes.snapshot
        #expect(result.other.isEmpty, "only unavailable and in_doubt may fail: \(result.other.prefix(3))")
        var stored: [Int64: Int64] = [:]
        var after: JSONValue = .null
        repeat {
            var request = JSONObject([("op", "list"), ("queue", "load"), ("limit", 1000)])
            if after != .null { request["after"] = after }
            let page = try await client.send(.object(request))
            for job in page["jobs"]?.array ?? [] {
                if let id = job["id"]?.int, let payload = job["payload"]?.int { stored[payload] = id }
            }
            after = page["next"] ?? .null
        } while after != .null
        let lost = result.acknowledged.filter { stored[$0.key] != $0.value }
        #expect(lost.isEmpty, "acknowledged but not stored: \(lost.count)")
        let phantom = result.notApplied.filter { stored[$0] != nil }
        #expect(phantom.isEmpty, "answered unavailable but applied: \(phantom.count)")
        #expect(Set(stored.keys).isSubset(of: Set(result.acknowledged.keys).union(result.inDoubt)))
        await client.close()
        await parker.close()
    }
}

/// A flag set once, read from several tasks.
final class ManagedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
