import DocketClient
import DocketProtocol
import Foundation
import Testing

@Suite("docket work and docket logs: output, timeouts, snooze, trace context")
struct WorkAttemptTests {
    let daemon: TestDaemon
    let client: DocketClient
    let cli: CommandLine

    init() async throws {
        daemon = try await TestDaemon.started()
        client = daemon.client()
        cli = CommandLine(socketPath: daemon.socketPath)
    }

    /// The command's stdout and stderr reach the job's log, each line on its stream, and
    /// docket logs prints them back to the same streams.
    @Test func output_goesToTheLog() async throws {
        _ = try await client.enqueue(queue: "q")
        let script = "for i in 1 2 3; do echo out $i; echo err $i >&2; done; echo done"
        let run = try await cli.run(["work", "--queue", "q", "--max-jobs", "1", "--", "sh", "-c", script])
        #expect(run.status == 0, "\(run.stderr)")
        let logs = try await cli.run(["logs", "1"])
        #expect(logs.stdout == "out 1\nout 2\nout 3\ndone\n")
        #expect(logs.stderr == "err 1\nerr 2\nerr 3\n")
        let (history, dropped) = try await client.log(job: 1)
        #expect(dropped == 0)
        let streams = history.events.filter { $0.kind == .log }.compactMap { $0.data?.value["stream"]?.string }
        #expect(Set(streams) == ["stdout", "stderr"])
        #expect(streams.count < 8, "lines written together go in one request, not one each")
        let plain = try await client.history(job: 1)
        #expect(!plain.events.contains { $0.kind == .log }, "get leaves log events out unless asked")
        var watched: [JobEvent.Kind] = []
        for try await event in try await client.watch(.job(1), since: 0) { watched.append(event.kind) }
        #expect(watched == plain.events.map(\.kind), "so does watch")
        var withLogs = 0
        for try await event in try await client.watch(.job(1), since: 0, logs: true) where event.kind == .log { withLogs += 1 }
        #expect(withLogs == streams.count)
    }

    /// A command that prints 10 MB: the worker keeps up (its lease renewals keep their turn),
    /// the log keeps the newest 1 MiB, and what was dropped, by the worker as it fell behind
    /// or by the daemon past the cap, is said. (Alone it runs in about a second; the lease
    /// leaves room for a CI machine running every suite at once, where it took 40 s.)
    @Test func tenMegabytes_keepTheNewestMebibyte() async throws {
        _ = try await client.enqueue(queue: "q")
        let script = "head -c 10000000 /dev/zero | tr '\\0' 'a' | fold -w 99 >&2; echo last line >&2"
        let run = try await cli.run(["work", "--queue", "q", "--max-jobs", "1", "--lease", "30s", "--", "sh", "-c", script])
        #expect(run.status == 0)
        #expect(try await client.get(job: 1).state == .completed)
        let logs = try await cli.run(["logs", "1"])
        #expect(logs.stderr.hasSuffix("aaaaaaaaaalast line\n"), "fold leaves the last 10 bytes without a line end")
        #expect(logs.stderr.utf8.count <= 1_100_000)
        let (_, droppedByDaemon) = try await client.log(job: 1)
        #expect(droppedByDaemon > 0 ? logs.stderr.hasPrefix("docket logs: the oldest ") : logs.stderr.contains("[docket work: "),
                "what went is said")
    }

    /// docket logs --follow prints output as it comes and returns when the job ends.
    @Test func follow_streamsUntilTheJobEnds() async throws {
        _ = try await client.enqueue(queue: "q")
        let worker = try cli.start(["work", "--queue", "q", "--max-jobs", "1", "--", "sh", "-c", "echo first; sleep 1; echo second"])
        try await Task.sleep(for: .milliseconds(300))
        let follow = try await cli.run(["logs", "1", "--follow"])
        #expect(follow.stdout == "first\nsecond\n")
        #expect(try await client.get(job: 1).state == .completed)
        _ = await worker.finish()
    }

    /// An attempt past its timeout is ended by the daemon however much progress it reports,
    /// and docket work stops its command.
    @Test func timeout_stopsTheCommand() async throws {
        _ = try await cli.run(["enqueue", "q", "--timeout", "1s", "--max-attempts", "1"])
        let started = ContinuousClock.now
        let script = "while true; do echo tick >&3; sleep 0.1; done"
        let run = try await cli.run(["work", "--queue", "q", "--max-jobs", "1", "--grace", "1s", "--", "sh", "-c", script])
        #expect(ContinuousClock.now - started < .seconds(15))
        #expect(run.stderr.contains("stopping the command"), "\(run.stderr)")
        let history = try await client.history(job: 1)
        #expect(history.job.state == .failed && history.job.lastError?.value["code"] == "timeout")
        #expect(history.events.last?.kind == .timedOut)
    }

    /// An exit status named by --snooze-exit snoozes the job without using up the attempt;
    /// the trace context reaches the command.
    @Test func snoozeExit_andTraceContext() async throws {
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        _ = try await cli.run(["enqueue", "q", "--max-attempts", "1"], environment: ["TRACEPARENT": traceparent])
        let marker = daemon.folder.appendingPathComponent("ran-once").path
        let script = "echo \"$TRACEPARENT\" >&2; if [ -e \(marker) ]; then echo ok; else touch \(marker); exit 75; fi"
        let run = try await cli.run([
            "work", "--queue", "q", "--max-jobs", "2", "--snooze-exit", "75", "--snooze-delay", "200ms", "--", "sh", "-c", script,
        ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("snoozed"))
        #expect(run.stderr.components(separatedBy: traceparent).count == 3, "both runs saw the trace context")
        let history = try await client.history(job: 1)
        #expect(history.job.state == .completed && history.job.attempt == 1, "the snoozed attempt did not count")
        #expect(history.job.traceparent == traceparent)
        #expect(history.events.map(\.kind).contains(.snoozed))
    }
}
