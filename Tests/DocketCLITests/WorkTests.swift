import DocketClient
import DocketProtocol
import Foundation
import Testing

@Suite("docket work: real commands as workers")
struct WorkTests {
    let daemon: TestDaemon
    let client: DocketClient
    let cli: CommandLine
    let folder: String

    init() async throws {
        daemon = try await TestDaemon.started()
        client = daemon.client()
        cli = CommandLine(socketPath: daemon.socketPath)
        folder = daemon.folder.path
    }

    @Test func success_completesWithStdoutAsJSON() async throws {
        _ = try await client.enqueue(queue: "q", payload: ["n": 2])
        let script = #"p=$(cat); echo "{\"got\":$p,\"id\":$DOCKET_JOB_ID,\"version\":$DOCKET_JOB_VERSION,\"attempt\":$DOCKET_JOB_ATTEMPT,\"queue\":\"$DOCKET_QUEUE\"}""#
        let run = try await cli.run(["work", "--queue", "q", "--max-jobs", "1", "--", "sh", "-c", script])
        #expect(run.status == 0, "\(run.stderr)")
        let job = try await client.get(job: 1)
        #expect(job.state == .completed)
        #expect(job.result == RawJSON(["got": ["n": 2], "id": 1, "version": 2, "attempt": 1, "queue": "q"]))
        #expect(run.stderr.contains("job 1 (q) completed after"))
    }

    @Test func plainOutput_isAStringResult() async throws {
        _ = try await client.enqueue(queue: "q")
        let run = try await cli.run(["work", "--queue", "q", "--max-jobs", "1", "--", "sh", "-c", "echo all done"])
        #expect(run.status == 0)
        #expect(try await client.get(job: 1).result == RawJSON("all done"))
    }

    @Test func failure_reportsExitStatusAndStderrTail() async throws {
        _ = try await client.enqueue(queue: "q", maxAttempts: 1)
        let run = try await cli.run(["work", "--queue", "q", "--max-jobs", "1", "--", "sh", "-c", "echo oops >&2; exit 3"])
        #expect(run.status == 0)
        #expect(run.stderr.contains("oops\n"))  // passed through
        let job = try await client.get(job: 1)
        #expect(job.state == .failed)
        #expect(job.lastError == RawJSON(["exit_status": 3, "stderr_tail": "oops\n"]))
    }

    @Test func linesOnFD3_becomeProgress() async throws {
        _ = try await client.enqueue(queue: "q")
        let script = #"echo '{"pct":50}' >&3; echo 'step two' >&3; printf 'no newline' >&3; echo ok"#
        let run = try await cli.run(["work", "--queue", "q", "--max-jobs", "1", "--", "sh", "-c", script])
        #expect(run.status == 0)
        let history = try await client.history(job: 1)
        // A slow run may renew the lease meanwhile: a progress event without data.
        let progress = history.events.filter { $0.kind == .progress && $0.data != nil }.map { $0.data?.value }
        #expect(progress == [["pct": 50], "step two", "no newline"])
        #expect(history.job.state == .completed && history.job.result == RawJSON("ok"))
    }

    @Test func cancellation_stopsTheCommandAndItsChildren() async throws {
        _ = try await client.enqueue(queue: "q")
        let pids = "\(folder)/pids"
        let script = "sleep 30 & echo $$ $! > \(pids).tmp; mv \(pids).tmp \(pids); wait"
        let work = try cli.start(["work", "--queue", "q", "--max-jobs", "1", "--grace", "1s", "--", "sh", "-c", script])
        try await eventually("the command to start") { FileManager.default.fileExists(atPath: pids) }
        let running = try String(contentsOfFile: pids, encoding: .utf8).split(separator: " ").compactMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(running.count == 2 && !running.contains { isGone($0) })
        let job = try await client.get(job: 1)
        _ = try await client.cancel(job: 1, version: job.version)
        let run = await work.finish()
        #expect(run.status == 0)
        #expect(run.stderr.contains("is cancelled now"))
        try await eventually("the command and its child to be gone", timeout: .seconds(3)) { running.allSatisfy(isGone) }
        #expect(try await client.get(job: 1).state == .cancelled)
    }

    /// Another client moves the job on (as a lease expiry and a new claim would): the next
    /// renewal is stale, and the command is stopped without reporting anything.
    @Test func leaseLoss_stopsTheCommandAndReportsNothing() async throws {
        _ = try await client.enqueue(queue: "q")
        let pidFile = "\(folder)/pid"
        let script = "echo $$ > \(pidFile).tmp; mv \(pidFile).tmp \(pidFile); sleep 30"
        let work = try cli.start(["work", "--queue", "q", "--max-jobs", "1", "--lease", "3s", "--grace", "1s", "--", "sh", "-c", script])
        try await eventually("the command to start") { FileManager.default.fileExists(atPath: pidFile) }
        let pid = try #require(pid_t(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        // Take the job over: a progress of our own with its current version, retried if a renewal slips in between.
        var stolen: Job?
        while stolen == nil {
            let current = try await client.get(job: 1)
            stolen = try? await client.progress(job: 1, version: current.version, progress: "taken over")
        }
        let run = await work.finish()
        #expect(run.stderr.contains("is no longer ours"))
        try await eventually("the command to be gone", timeout: .seconds(3)) { isGone(pid) }
        let job = try await client.get(job: 1)
        #expect(job.state == .running && job.progress == RawJSON("taken over") && job.version == stolen!.version)
    }

    @Test func leaseIsRenewedWhileTheCommandRuns() async throws {
        _ = try await client.enqueue(queue: "q")
        let run = try await cli.run(["work", "--queue", "q", "--max-jobs", "1", "--lease", "1200ms", "--", "sh", "-c", "sleep 2.5; echo done"])
        #expect(run.status == 0)
        let history = try await client.history(job: 1)
        #expect(history.job.state == .completed && history.job.attempt == 1)
        #expect(!history.events.contains { $0.kind == .leaseExpired })
        #expect(history.events.filter { $0.kind == .progress }.count >= 2)
    }

    @Test func sigterm_releasesRunningJobsForAnotherWorker() async throws {
        _ = try await client.enqueue(queue: "q")
        let work = try cli.start(["work", "--queue", "q", "--grace", "300ms", "--", "sh", "-c", "sleep 30"])
        try await eventually("the command to start") { work.stderrSoFar.contains("started") }
        work.signal(SIGTERM)
        let run = await work.finish()
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("released for another worker"))
        let job = try await client.get(job: 1)
        #expect(job.state == .pending && job.runAt <= job.updatedAt)
        #expect(job.lastError?.value["message"] == "docket work was stopped before the command finished")
    }

    @Test func sigterm_letsAShortJobFinish() async throws {
        _ = try await client.enqueue(queue: "q")
        let work = try cli.start(["work", "--queue", "q", "--grace", "5s", "--", "sh", "-c", "sleep 0.5; echo finished"])
        try await eventually("the command to start") { work.stderrSoFar.contains("started") }
        work.signal(SIGTERM)
        let run = await work.finish()
        #expect(run.status == 0)
        #expect(try await client.get(job: 1).result == RawJSON("finished"), "\(run.stderr)")
    }

    @Test func concurrency_runsJobsSideBySide() async throws {
        for _ in 0..<3 { _ = try await client.enqueue(queue: "q") }
        let run = try await cli.run(["work", "--queue", "q", "--concurrency", "3", "--max-jobs", "3", "--", "sh", "-c", "sleep 1"])
        #expect(run.status == 0)
        var histories: [JobHistory] = []
        for id in Int64(1)...3 { histories.append(try await client.history(job: id)) }
        #expect(histories.allSatisfy { $0.job.state == .completed })
        // All three were running at once: every claim came before the first completion.
        let claims = histories.compactMap { $0.events.first { $0.kind == .claimed }?.at }
        let completions = histories.compactMap { $0.events.first { $0.kind == .completed }?.at }
        #expect(claims.count == 3 && claims.max()! < completions.min()!)
    }

    @Test func missingCommand_failsTheJobAndSaysWhy() async throws {
        _ = try await client.enqueue(queue: "q", maxAttempts: 1)
        let run = try await cli.run(["work", "--queue", "q", "--max-jobs", "1", "--", "/nonexistent/cmd"])
        #expect(run.status == 0)
        let job = try await client.get(job: 1)
        #expect(job.state == .failed && job.lastError?.text.contains("cannot run /nonexistent/cmd") == true)
    }
}

extension WorkTests {
    @Test func stringPayload_reachesTheCommandAsItIs() async throws {
        _ = try await client.enqueue(queue: "q", payload: "hello world")
        let run = try await cli.run(["work", "--queue", "q", "--max-jobs", "1", "--", "sh", "-c", "cat"])
        #expect(run.status == 0)
        #expect(try await client.get(job: 1).result == RawJSON("hello world"))
    }
}
