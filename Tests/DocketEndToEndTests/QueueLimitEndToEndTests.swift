import DocketClient
import DocketProtocol
import DocketTestSupport
import Foundation
import Testing

/// Queue limits against real daemons, checked from the recorded history: the claim and
/// finish events, in the order the store committed them, never show more running jobs than
/// a limit allows, and the claim times never put more than `rate.max` in one window.
@Suite("End to end: queue limits under 32 concurrent claimants")
struct QueueLimitEndToEndTests {
    static let keys = ["repo-a", "repo-b", "repo-c", "repo-d", "repo-e", "repo-f"]

    /// 32 claimants (over two daemons on PostgreSQL) take jobs from a queue capped at 4
    /// running and 1 per key, and from one allowed 5 claims per 200 ms; each job finishes
    /// after a random moment.
    @Test(arguments: Backend.available) func limitsHold_inTheHistory(_ backend: Backend) async throws {
        let first = try await Daemon(backend)
        let daemons = backend == .postgresql ? [first, try await Daemon(sharing: first)] : [first]
        let admin = try await first.connect()
        let capped = try await admin.send(["op": "queue_put", "queue": "capped", "version": 0, "max_running": 4, "max_running_per_key": 1])
        #expect(capped["queue"]?["version"] == 1)
        let rated = try await admin.send(["op": "queue_put", "queue": "rated", "version": 0, "rate": ["max": 5, "per_ms": 200]])
        #expect(rated["queue"]?["rate"] == ["max": 5, "per_ms": 200])
        let cappedJobs = 120
        let ratedJobs = 40
        var items: [JSONValue] = (0..<cappedJobs).map { index -> JSONValue in
            ["queue": "capped", "concurrency_key": JSONValue.string(Self.keys[index % Self.keys.count])]
        }
        items += (0..<ratedJobs).map { _ in ["queue": "rated"] }
        _ = try await admin.send(["op": "enqueue", "jobs": .array(items)])

        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<32 {
                let daemon = daemons[index % daemons.count]
                group.addTask {
                    let worker = try await daemon.connect()
                    while true {
                        let job = try await worker.job(["op": "claim", "queues": ["capped", "rated"], "wait_ms": 1500])
                        guard let id = job["id"], let version = job["version"] else { break }
                        try await Task.sleep(for: .milliseconds(Int.random(in: 0...15)))
                        _ = try await worker.job(["op": "complete", "job": id, "version": version])
                    }
                    await worker.close()
                }
            }
            try await group.waitForAll()
        }

        let stats = try await admin.send(["op": "stats"])
        #expect(stats["queues"]?["capped"] == ["completed": .int(Int64(cappedJobs))])
        #expect(stats["queues"]?["rated"] == ["completed": .int(Int64(ratedJobs))])
        let history = try await events(admin)
        var running = 0
        var runningByKey: [String: Int] = [:]
        var keyOf: [Int64: String] = [:]
        for (index, item) in items.prefix(cappedJobs).enumerated() { keyOf[Int64(index + 1)] = item["concurrency_key"]?.string }
        var most = 0
        for event in history where event["queue"] == "capped" {
            guard let job = event["job"]?.int, let key = keyOf[job] else { continue }
            switch event["type"]?.string {
            case "claimed":
                running += 1
                runningByKey[key, default: 0] += 1
                #expect(running <= 4, "more than max_running at seq \(event["seq"]?.int ?? 0)")
                #expect(runningByKey[key]! <= 1, "more than one running job of \(key) at seq \(event["seq"]?.int ?? 0)")
                most = max(most, running)
            case "completed":
                running -= 1
                runningByKey[key, default: 0] -= 1
            default: break
            }
        }
        #expect(most == 4, "the cap was reached, so the check above meant something")
        let claimTimes = history.filter { $0["queue"] == "rated" && $0["type"] == "claimed" }
            .compactMap { $0["at"]?.string.flatMap(Timestamp.parse) }.sorted()
        #expect(claimTimes.count == ratedJobs)
        for index in claimTimes.indices.dropFirst(5) {
            #expect(claimTimes[index] - claimTimes[index - 5] >= 200, "six claims within 200 ms ending at \(claimTimes[index])")
        }
        await admin.close()
    }

    /// Every event in the store, oldest first.
    func events(_ client: DocketConnection) async throws -> [JSONValue] {
        var all: [JSONValue] = []
        var after: Int64 = 0
        while true {
            let page = try await client.send(["op": "list", "limit": 1000, "after": .int(after)])
            let jobs = page["jobs"]?.array ?? []
            for job in jobs {
                let found = try await client.send(["op": "get", "job": job["id"]!, "events": true])
                all += found["events"]?.array ?? []
            }
            guard let next = page["next"]?.int else { break }
            after = next
        }
        return all.sorted { ($0["seq"]?.int ?? 0) < ($1["seq"]?.int ?? 0) }
    }
}
