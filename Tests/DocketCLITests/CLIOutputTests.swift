import DocketClient
import DocketProtocol
import Foundation
import Testing

/// Golden output: tables with "now" fixed by `$DOCKET_NOW`, and JSON in the protocol's shapes.
@Suite("docket: tables, JSON and exit codes")
struct CLIOutputTests {
    /// Four jobs in every kind of state, and a command line whose "now" is 90 s after the last change.
    struct Fixture {
        let daemon: TestDaemon
        let client: DocketClient
        let cli: CommandLine
        let jobs: [Job]
    }

    static func fixture() async throws -> Fixture {
        let daemon = try await TestDaemon.started()
        let client = daemon.client()
        _ = try await client.enqueue(queue: "emails", payload: ["to": "a@example.com"])
        _ = try await client.enqueue(queue: "emails", payload: "hello", delay: .seconds(300))
        _ = try await client.enqueue(queue: "reports", payload: ["month": "2026-10"])
        _ = try await client.enqueue(queue: "reports", payload: ["month": "2026-11"], priority: -1)
        var first = try #require(try await client.claim(queues: ["emails"], lease: .seconds(60), worker: "agent-7"))
        first = try await client.progress(job: first.id, version: first.version, progress: ["pct": 50])
        _ = try await client.complete(job: first.id, version: first.version, result: ["sent": true])
        _ = try await client.claim(queues: ["reports"], lease: .seconds(600), worker: "agent-9")
        let jobs = try await client.list().jobs
        let latest = jobs.map(\.updatedAt).max()!
        let cli = CommandLine(socketPath: daemon.socketPath, now: Timestamp.format(milliseconds: latest + 90_000))
        return Fixture(daemon: daemon, client: client, cli: cli, jobs: jobs)
    }

    @Test func ls_table() async throws {
        let f = try await Self.fixture()
        let run = try await f.cli.run(["ls"])
        #expect(run.status == 0)
        #expect(run.lines == [
            "ID  QUEUE    STATE                  TRIES  VERSION  UPDATED  WORKER   PAYLOAD",
            "1   emails   completed              1/3    4        1m ago   agent-7  {\"to\":\"a@example.com\"}",
            "2   emails   pending (in 3m)        0/3    1        1m ago   -        \"hello\"",
            "3   reports  pending                0/3    1        1m ago   -        {\"month\":\"2026-10\"}",
            "4   reports  running (lease in 8m)  1/3    2        1m ago   agent-9  {\"month\":\"2026-11\"}",
        ])
    }

    @Test func ls_pagesAndFilters() async throws {
        let f = try await Self.fixture()
        let page = try await f.cli.run(["ls", "--limit", "2", "--queue", "emails"])
        #expect(page.lines.count == 3 && page.stderr.isEmpty)
        let first = try await f.cli.run(["ls", "--limit", "1"])
        #expect(first.lines.count == 2 && first.stderr == "more jobs: docket ls --after 1 --limit 1\n")
        let all = try await f.cli.run(["ls", "--limit", "1", "--all", "--json"])
        #expect(all.lines.count == 4 && all.stderr.isEmpty)
        let running = try await f.cli.run(["ls", "--state", "running", "--json"])
        #expect(running.lines == [JSONWriter.text(of: f.jobs[3].json)])
    }

    @Test func ls_json_isOneJobPerLineAsTheDaemonSendsIt() async throws {
        let f = try await Self.fixture()
        let run = try await f.cli.run(["ls", "--json"])
        #expect(run.lines == f.jobs.map { JSONWriter.text(of: $0.json) })
        let raw = try await DocketConnection.connect(socketPath: f.daemon.socketPath)
        let answer = try await raw.send(["op": "list"])
        #expect(run.lines == answer["jobs"]?.array?.map { JSONWriter.text(of: $0) })
        await raw.close()
    }

    @Test func show_table() async throws {
        let f = try await Self.fixture()
        let history = try await f.client.history(job: 1)
        let job = history.job
        let peer = "\(getpid())@\(getuid())"
        let run = try await f.cli.run(["show", "1"])
        func time(_ ms: Int64) -> String { Timestamp.format(milliseconds: ms) }
        let seqs = history.events.map { String($0.seq) }
        let seqWidth = max(3, seqs.map(\.count).max()!)
        func seq(_ i: Int) -> String { seqs[i] + String(repeating: " ", count: seqWidth - seqs[i].count) }
        let pad = String(repeating: " ", count: seqWidth - 3)
        #expect(run.status == 0)
        #expect(run.lines == [
            "job 1  completed",
            "  queue        emails",
            "  version      4",
            "  attempt      1 of 3",
            "  priority     0",
            "  worker       agent-7",
            "  created      \(time(job.createdAt)) (1m ago)",
            "  updated      \(time(job.updatedAt)) (1m ago)",
            "  run at       \(time(job.runAt)) (1m ago)",
            "  lease until  -",
            "  unique key   -",
            "  payload      {\"to\":\"a@example.com\"}",
            "  progress     {\"pct\":50}",
            "  result       {\"sent\":true}",
            "  last error   -",
            "",
            "history",
            "  SEQ\(pad)  WHEN    EVENT      VERSION  STATE      BY\(String(repeating: " ", count: peer.count - 2))  DATA",
            "  \(seq(0))  1m ago  enqueued   1        pending    \(peer)",
            "  \(seq(1))  1m ago  claimed    2        running    \(peer)  {\"worker\":\"agent-7\"}",
            "  \(seq(2))  1m ago  progress   3        running    \(peer)  {\"pct\":50}",
            "  \(seq(3))  1m ago  completed  4        completed  \(peer)  {\"sent\":true}",
        ])
    }

    @Test func show_json_isTheJobAndItsEvents() async throws {
        let f = try await Self.fixture()
        let history = try await f.client.history(job: 1)
        let run = try await f.cli.run(["show", "1", "--json"])
        #expect(run.lines == [JSONWriter.text(of: ["job": history.job.json, "events": .array(history.events.map(\.json))])])
    }

    @Test func stats_table() async throws {
        let f = try await Self.fixture()
        let run = try await f.cli.run(["stats"])
        #expect(Array(run.lines.prefix(3)) == [
            "QUEUE    PENDING  RUNNING  COMPLETED  FAILED  CANCELLED",
            "emails   1        0        1          0       0",
            "reports  1        1        0          0       0",
        ])
        #expect(run.lines.last?.hasPrefix("2 connections, 0 waiting claims, up ") == true)
        let json = try JSONParser.parse(try await f.cli.run(["stats", "--json"]).stdout)
        #expect(json["queues"] == ["emails": ["pending": 1, "completed": 1], "reports": ["pending": 1, "running": 1]])
    }

    @Test func changes_printTheNewVersion() async throws {
        let f = try await Self.fixture()
        let enqueued = try await f.cli.run(["enqueue", "emails", "{\"to\":\"b@example.com\"}", "--priority", "2"])
        #expect(enqueued.lines == ["enqueued job 5 on emails"])
        let piped = try await f.cli.run(["enqueue", "imports", "-", "--json"], stdin: "{\"n\": 1.50}\n")
        #expect(try JSONParser.parse(piped.stdout)["payload"] == ["n": .number("1.50")])
        let claimed = try await f.cli.run(["claim", "emails", "--worker", "w", "--json"])
        let job = try Job(json: try JSONParser.parse(claimed.stdout))
        #expect(job.id == 5 && job.worker == "w")
        let progressed = try await f.cli.run(["progress", "5", "--version", String(job.version), "half way"])
        #expect(progressed.lines == ["job 5 is running, version \(job.version + 1)"])
        let failed = try await f.cli.run(["fail", "5", "--version", String(job.version + 1), "--no-retry", "{\"why\":\"bad\"}"])
        #expect(failed.lines == ["job 5 is failed, version \(job.version + 2)"])
        let retried = try await f.cli.run(["retry", "5"])
        #expect(retried.lines == ["job 5 is pending, version \(job.version + 3)"])
        let cancelled = try await f.cli.run(["cancel", "5"])
        #expect(cancelled.lines == ["job 5 is cancelled, version \(job.version + 4)"])
        let stored = try await f.client.get(job: 5)
        #expect(stored.progress == RawJSON("half way") && stored.lastError == RawJSON(["why": "bad"]))
        let nothing = try await f.cli.run(["claim", "nothing-here", "--json"])
        #expect(nothing.status == 0 && nothing.lines == ["null"])
    }

    @Test func exitCodes_tellFailuresApart() async throws {
        let f = try await Self.fixture()
        let usage = try await f.cli.run(["ls", "--bogus"])
        #expect(usage.status == 2 && usage.stderr.contains("Unknown option '--bogus'"))
        let notFound = try await f.cli.run(["show", "99"])
        #expect(notFound.status == 3 && notFound.stderr == "docket: no job with id 99\n")
        let stale = try await f.cli.run(["complete", "4", "--version", "1"])
        #expect(stale.status == 4 && stale.stderr.contains("is at version 2 (running), not 1"))
        let invalid = try await f.cli.run(["cancel", "1"])
        #expect(invalid.status == 5 && invalid.stderr.contains("it is completed"))
        let staleCancel = try await f.cli.run(["cancel", "3", "--version", "7"])
        #expect(staleCancel.status == 4)
        let badJSON = try await f.cli.run(["enqueue", "q", "{\"to\":"])
        #expect(badJSON.status == 2 && badJSON.stderr.contains("starts like JSON but is not"))
        let noDaemon = CommandLine(socketPath: "/tmp/dkc-none-\(getpid()).sock")
        let refused = try await noDaemon.run(["ping"])
        #expect(refused.status == 6 && refused.stderr.contains("cannot connect to docketd at /tmp/dkc-none-"))
        let ping = try await f.cli.run(["ping"])
        #expect(ping.status == 0 && ping.stdout.hasPrefix("docketd "))
    }

    @Test func schedules_addEditRemove() async throws {
        let f = try await Self.fixture()
        try #require(try await f.daemon.serves(["op": "schedule_list"]), "this docketd does not serve schedules yet")
        let added = try await f.cli.run(["schedule", "add", "nightly", "--cron", "0 3 * * *", "--queue", "reports", "{\"kind\":\"nightly\"}"])
        #expect(added.status == 0 && added.lines.first?.hasPrefix("NAME") == true)
        #expect(added.lines.last?.hasPrefix("nightly  0 3 * * *  reports  in ") == true)
        let paused = try await f.cli.run(["schedule", "edit", "nightly", "--pause"])
        #expect(paused.lines.last?.contains("  paused    never     2        {\"kind\":\"nightly\"}") == true)
        let listed = try await f.cli.run(["schedule", "ls", "--json"])
        let schedule = try Schedule(json: try JSONParser.parse(listed.stdout))
        #expect(schedule.paused && schedule.version == 2)
        let badCron = try await f.cli.run(["schedule", "add", "x", "--cron", "0 3 * *", "--queue", "q"])
        #expect(badCron.status == 2 && badCron.stderr.contains("5 fields"))
        let removed = try await f.cli.run(["schedule", "rm", "nightly"])
        #expect(removed.lines == ["deleted schedule nightly"])
        #expect(try await f.cli.run(["schedule", "rm", "nightly"]).status == 3)
    }

    @Test func enqueueLines_purgeAndBackup() async throws {
        let f = try await Self.fixture()
        let lines = try await f.cli.run(["enqueue", "numbers", "--lines", "-"], stdin: "1\n{\"n\":2}\nthree\n")
        #expect(lines.lines == ["enqueued 3 jobs on numbers: jobs 5 to 7"])
        #expect(try await f.client.list(queue: "numbers").jobs.map(\.payload) == [RawJSON(1), RawJSON(["n": 2]), RawJSON("three")])
        let purged = try await f.cli.run(["purge", "--state", "completed"])
        #expect(purged.lines == ["purged 1 job"])
        let backup = try await f.cli.run(["backup", "\(f.daemon.folder.path)/copy.db"])
        #expect(backup.status == 0 && backup.stdout.hasPrefix("wrote \(f.daemon.folder.path)/copy.db ("))
        let live = try await f.cli.run(["purge", "--state", "running"])
        #expect(live.status == 2)
    }

    /// `docket bench` pushes exactly the jobs asked for through the daemon, each completed
    /// once, and reports every op; `--rate` paces the enqueues.
    @Test func bench_completesEveryJobAndPaces() async throws {
        let daemon = try await TestDaemon.started()
        let cli = CommandLine(socketPath: daemon.socketPath)
        let started = ContinuousClock.now
        let run = try await cli.run(["bench", "--producers", "3", "--consumers", "2", "--count", "150", "--rate", "300", "--json"])
        let elapsed = ContinuousClock.now - started
        #expect(run.status == 0, "\(run.stderr)")
        let report = try JSONParser.parse(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(report["cycles"]?.int64 == 150 && report["paced_rate"]?.int64 == 300)
        for op in ["enqueue", "claim", "pickup", "complete", "cycle"] {
            #expect(report["latency"]?[op]?["count"]?.int64 == 150, "\(op)")
        }
        #expect(elapsed >= .milliseconds(490), "150 enqueues at 300/s take half a second")
        let completed = try await daemon.client().list(queue: "bench", state: .completed, limit: 1000).jobs
        #expect(completed.count == 150 && completed.allSatisfy { $0.version == 3 }, "each job claimed and completed once")
    }

    @Test func completionScripts_areGenerated() async throws {
        let cli = CommandLine(socketPath: "/tmp/unused.sock")
        for shell in ["bash", "zsh", "fish"] {
            let run = try await cli.run(["--generate-completion-script", shell])
            #expect(run.status == 0 && run.stdout.contains("docket"))
        }
    }
}
