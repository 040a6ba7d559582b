import DocketClient
import DocketProtocol
import Foundation
import Testing

@Suite("docket wait and docket watch")
struct WaitAndWatchTests {
    @Test func wait_exitCodesFollowTheFinalState() async throws {
        let daemon = try await TestDaemon.started()
        let client = daemon.client()
        let cli = CommandLine(socketPath: daemon.socketPath)
        for _ in 0..<3 { _ = try await client.enqueue(queue: "q", maxAttempts: 1) }
        var job = try #require(try await client.claim(queues: ["q"]))
        _ = try await client.complete(job: job.id, version: job.version, result: ["ok": true])
        job = try #require(try await client.claim(queues: ["q"]))
        _ = try await client.fail(job: job.id, version: job.version, error: ["why": "disk full"])
        _ = try await client.cancel(job: 3, version: 1)

        let completed = try await cli.run(["wait", "1"])
        #expect(completed.status == 0 && completed.lines == [#"{"ok":true}"#])
        let failed = try await cli.run(["wait", "2"])
        #expect(failed.status == 8 && failed.lines == [#"{"why":"disk full"}"#])
        let cancelled = try await cli.run(["wait", "3"])
        #expect(cancelled.status == 9 && cancelled.lines == ["job 3 was cancelled"])
        let missing = try await cli.run(["wait", "4"])
        #expect(missing.status == 3)
    }

    @Test func wait_blocksUntilTheJobEnds() async throws {
        let daemon = try await TestDaemon.started()
        let client = daemon.client()
        let cli = CommandLine(socketPath: daemon.socketPath)
        _ = try await client.enqueue(queue: "q")
        let waiting = try cli.start(["wait", "1", "--json"])
        let job = try #require(try await client.claim(queues: ["q"]))
        try await Task.sleep(for: .milliseconds(300))
        #expect(waiting.process.isRunning)
        _ = try await client.complete(job: 1, version: job.version, result: "done")
        let run = await waiting.finish()
        #expect(run.status == 0)
        #expect(try Job(json: try JSONParser.parse(run.stdout)).result == RawJSON("done"))
    }

    @Test func watch_streamsOneJSONEventPerLine() async throws {
        let daemon = try await TestDaemon.started()
        try #require(try await daemon.serves(["op": "watch"]), "this docketd does not serve watch yet")
        let client = daemon.client()
        let cli = CommandLine(socketPath: daemon.socketPath)
        // From seq 0, so that events made before the watch is up are replayed, not missed.
        let watching = try cli.start(["watch", "--queue", "q", "--json", "--since", "0"])
        let job = try await client.enqueue(queue: "q", payload: ["n": 1]).job
        _ = try await client.enqueue(queue: "elsewhere")
        _ = try await client.cancel(job: job.id, version: job.version)
        try await eventually("two events") { watching.stdoutSoFar.split(separator: "\n").count == 2 }
        watching.signal(SIGINT)
        let run = await watching.finish()
        let events = try run.lines.map { try JobEvent(json: try JSONParser.parse($0)) }
        #expect(events.map(\.kind) == [.enqueued, .cancelled] && events.allSatisfy { $0.job == job.id })
    }
}
