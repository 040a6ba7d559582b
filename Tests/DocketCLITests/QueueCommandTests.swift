import DocketClient
import DocketProtocol
import Foundation
import Testing

@Suite("CLI: docket queue")
struct QueueCommandTests {
    /// The README's session: at most 50 model calls a minute, one job per repository at a
    /// time; pause and resume; the table and --json show what was set.
    @Test func setPauseResumeAndList() async throws {
        let daemon = try await TestDaemon.started()
        let cli = CommandLine(socketPath: daemon.socketPath)
        let enqueued = try await cli.run(["enqueue", "llm", "{\"repo\":\"a\"}", "--concurrency-key", "repo-a", "--json"])
        #expect(enqueued.status == 0)
        #expect(try JSONParser.parse(enqueued.stdout)["concurrency_key"] == "repo-a")
        let set = try await cli.run(["queue", "set", "llm", "--rate", "50/1m", "--max-running-per-key", "1"])
        #expect(set.status == 0, "\(set.stderr)")
        #expect(set.lines.first?.hasPrefix("QUEUE  STATE   MAX RUNNING  PER KEY  RATE") == true)
        #expect(set.lines.last?.hasPrefix("llm    active  -            1        50/1m  1        0") == true)
        let paused = try await cli.run(["queue", "pause", "llm"])
        #expect(paused.lines.last?.contains("paused") == true)
        #expect(try await daemon.client().claim(queues: ["llm"]) == nil, "a paused queue hands out nothing")
        _ = try await cli.run(["queue", "resume", "llm"])
        let shown = try await cli.run(["queue", "show", "llm", "--json"])
        let queue = try QueueInfo(json: try JSONParser.parse(shown.stdout))
        #expect(queue.settings == QueueSettings(name: "llm", maxRunningPerKey: 1, rate: RateLimit(max: 50, perMs: 60_000), version: 3))
        #expect(queue.counts == [.pending: 1])
        let cleared = try await cli.run(["queue", "set", "llm", "--rate", "none", "--json"])
        #expect(try QueueInfo(json: try JSONParser.parse(cleared.stdout)).settings.rate == nil)
        let listed = try await cli.run(["queue", "ls"])
        #expect(listed.lines.count == 2 && listed.lines[1].hasPrefix("llm "))
        let zero = try await cli.run(["queue", "set", "llm", "--max-running", "0"])
        #expect(zero.status == 2 && zero.stderr.contains("--max-running"))
        let nothing = try await cli.run(["queue", "set", "llm"])
        #expect(nothing.status == 2 && nothing.stderr.contains("give at least one of"))
    }
}
