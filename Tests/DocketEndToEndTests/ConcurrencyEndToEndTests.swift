import DocketClient
import DocketProtocol
import DocketTestSupport
import Foundation
import Testing

@Suite("End to end: concurrent workers and crashes")
struct ConcurrencyEndToEndTests {
    /// 16 workers on their own connections drain 2,000 jobs: every job is completed exactly
    /// once, and no claim is ever handed out twice.
    @Test(arguments: Backend.available) func sixteenWorkers_completeEveryJobExactlyOnce(_ backend: Backend) async throws {
        let daemon = try await Daemon(backend)
        let producer = try await daemon.connect()
        let total = 2000
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<total {
                group.addTask { _ = try await producer.job(["op": "enqueue", "queue": "work", "payload": .int(index)]) }
                if index % 200 == 199 { try await group.waitForAll() }
            }
        }
        let completions = try await Self.drain("work", workers: 16) { _ in try await daemon.connect() }
        #expect(completions.count == total)
        #expect(Set(completions).count == total)
        let stats = try await producer.send(["op": "stats"])
        #expect(stats["queues"]?["work"] == ["completed": .int(total)])
        await producer.close()
    }

    /// `kill -9` in the middle of a stream of enqueues loses nothing that was acknowledged.
    @Test(arguments: Backend.available) func killNine_losesNoAcknowledgedJob(_ backend: Backend) async throws {
        let daemon = try await Daemon(backend)
        let acknowledged = AcknowledgedIDs()
        let writers = (0..<4).map { writer in
            Task {
                let client = try await daemon.connect()
                for index in 0..<100_000 {
                    guard let answer = try? await client.send(["op": "enqueue", "queue": "durable", "payload": ["w": .int(writer), "i": .int(index)]]),
                        let id = answer["job"]?["id"]?.int
                    else { return }
                    acknowledged.add(id)
                }
            }
        }
        while acknowledged.count < 300 { try await Task.sleep(for: .milliseconds(5)) }
        daemon.crash()
        for writer in writers { _ = await writer.result }
        let before = acknowledged.all
        try await daemon.restart()
        let client = try await daemon.connect()
        var stored = Set<Int64>()
        var after: JSONValue = .null
        repeat {
            var request: JSONObject = JSONObject([("op", "list"), ("queue", "durable"), ("limit", 1000)])
            if after != .null { request["after"] = after }
            let page = try await client.send(.object(request))
            for job in page["jobs"]?.array ?? [] { if let id = job["id"]?.int { stored.insert(id) } }
            after = page["next"] ?? .null
        } while after != .null
        #expect(before.count >= 300)
        #expect(before.isSubset(of: stored), "lost \(before.subtracting(stored).count) acknowledged jobs")
        await client.close()
    }
}

extension ConcurrencyEndToEndTests {
    /// Workers, each on a connection of its own (`connect(worker)`), claim and complete the
    /// queue's jobs until none is left; returns the ids each completion was accepted for.
    static func drain(_ queue: String, workers: Int, connect: @escaping @Sendable (Int) async throws -> DocketConnection)
        async throws -> [Int64]
    {
        try await withThrowingTaskGroup(of: [Int64].self) { group in
            for worker in 0..<workers {
                group.addTask {
                    let client = try await connect(worker)
                    var done: [Int64] = []
                    while true {
                        let job = try await client.job(["op": "claim", "queue": .string(queue), "worker": .string("w\(worker)")])
                        guard let id = job["id"]?.int, let version = job["version"]?.int else { break }
                        let answer = try await client.send(["op": "complete", "job": .int(id), "version": .int(version)])
                        #expect(answer["ok"] == true, "complete of job \(id) at version \(version) refused: \(answer)")
                        done.append(id)
                    }
                    await client.close()
                    return done
                }
            }
            return try await group.reduce(into: [Int64]()) { $0 += $1 }
        }
    }
}

/// Job ids acknowledged by the daemon, collected from several tasks.
final class AcknowledgedIDs: @unchecked Sendable {
    private let lock = NSLock()
    private var ids = Set<Int64>()

    func add(_ id: Int64) { lock.withLock { _ = ids.insert(id) } }
    var count: Int { lock.withLock { ids.count } }
    var all: Set<Int64> { lock.withLock { ids } }
}
