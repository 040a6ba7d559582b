import DocketClient
import DocketProtocol
import DocketTestSupport
import Foundation
import Testing

/// Several `docketd`, each on its own socket, sharing one PostgreSQL database: everything
/// the contract promises holds across them.
@Suite("End to end: several daemons, one PostgreSQL", .enabled(if: TestPostgres.server != nil, "needs PostgreSQL"))
struct ScaleOutEndToEndTests {
    /// Three daemons on one new database.
    func cluster(_ count: Int = 3, arguments: [String] = []) async throws -> [Daemon] {
        let first = try await Daemon(.postgresql, arguments: arguments)
        var daemons = [first]
        for _ in 1..<count { daemons.append(try await Daemon(sharing: first, arguments: arguments)) }
        return daemons
    }

    /// A job enqueued through one daemon is claimed through another; the version fence set
    /// there is enforced by a third; unique keys and `stats` are store-wide.
    @Test func enqueueClaimAndFence_acrossDaemons() async throws {
        let daemons = try await cluster()
        let (a, b, c) = (try await daemons[0].connect(), try await daemons[1].connect(), try await daemons[2].connect())
        let hello = try await c.send(["op": "hello"])
        #expect(hello["store"] == "postgresql")
        let enqueued = try await a.job(["op": "enqueue", "queue": "q", "payload": "x", "unique_key": "k"])
        let again = try await b.send(["op": "enqueue", "queue": "q", "unique_key": "k"])
        #expect(again["created"] == false && again["job"]?["id"] == enqueued["id"], "the unique key is store-wide")
        let claimed = try await b.job(["op": "claim", "queue": "q", "worker": "w1"])
        #expect(claimed["id"] == enqueued["id"] && claimed["version"] == 2)
        let id = try #require(claimed["id"])
        let progressed = try await c.job(["op": "progress", "job": id, "version": 2, "progress": 50])
        #expect(progressed["version"] == 3)
        let stale = try await a.send(["op": "complete", "job": id, "version": 2])
        #expect(stale.errorCode == "stale_version" && stale["error"]?["job"]?["version"] == 3)
        let completed = try await a.job(["op": "complete", "job": id, "version": 3])
        #expect(completed["state"] == "completed")
        let twice = try await b.send(["op": "complete", "job": id, "version": 3])
        #expect(twice.errorCode == "stale_version", "no double completion through another daemon")
        for client in [a, b, c] {
            let stats = try await client.send(["op": "stats"])
            #expect(stats["queues"]?["q"] == ["completed": 1])
        }
        for client in [a, b, c] { await client.close() }
    }

    /// 16 workers spread over three daemons drain 2,000 jobs: each completed exactly once.
    @Test func sixteenWorkersOverThreeDaemons_completeEveryJobExactlyOnce() async throws {
        let daemons = try await cluster()
        let total = 2000
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, daemon) in daemons.enumerated() {
                group.addTask {
                    let producer = try await daemon.connect()
                    for job in stride(from: index, to: total, by: daemons.count) {
                        _ = try await producer.job(["op": "enqueue", "queue": "work", "payload": .int(Int64(job))])
                    }
                    await producer.close()
                }
            }
            try await group.waitForAll()
        }
        let completions = try await ConcurrencyEndToEndTests.drain("work", workers: 16) { worker in
            try await daemons[worker % daemons.count].connect()
        }
        #expect(completions.count == total)
        #expect(Set(completions).count == total)
        let probe = try await daemons[1].connect()
        #expect(try await probe.send(["op": "stats"])["queues"]?["work"] == ["completed": .int(Int64(total))])
        await probe.close()
    }

    /// A claim waiting on one daemon is woken by an enqueue through another within 100 ms of
    /// when an enqueue through its own daemon would wake it: the announcement on the
    /// database's channel adds less than 100 ms. Each round wakes the claim once through its
    /// own daemon and once through the other, back to back, and the median of the rounds'
    /// differences is compared: the test suite runs hundreds of daemons at once on two
    /// cores, and a burst of load then falls on both halves of a round alike. Woken by the
    /// one-second fallback poll instead, the median difference would be about half a second.
    @Test func waitingClaim_isWokenByAnEnqueueThroughAnotherDaemon() async throws {
        let daemons = try await cluster(2)
        let waiter = try await daemons[0].connect()
        let observer = try await daemons[0].connect()
        let local = try await daemons[0].connect()
        let remote = try await daemons[1].connect()
        func latency(enqueueingThrough producer: DocketConnection, round: Int) async throws -> Duration {
            let parked = Task { () -> (JSONValue, ContinuousClock.Instant) in
                let answer = try await waiter.send(["op": "claim", "queue": "wake", "wait_ms": 10_000])
                return (answer, ContinuousClock.now)
            }
            while try await observer.send(["op": "stats"])["waiting_claims"] != 1 { try await Task.sleep(for: .milliseconds(5)) }
            let enqueuedAt = ContinuousClock.now
            let job = try await producer.job(["op": "enqueue", "queue": "wake", "payload": .int(Int64(round))])
            let (answer, answeredAt) = try await parked.value
            #expect(answer["job"]?["id"] == job["id"])
            return answeredAt - enqueuedAt
        }
        var rounds: [(same: Duration, other: Duration)] = []
        for round in 0..<15 {
            let same = try await latency(enqueueingThrough: local, round: round)
            rounds.append((same, try await latency(enqueueingThrough: remote, round: round)))
        }
        let extra = rounds.map { $0.other - $0.same }.sorted()
        #expect(extra[7] < .milliseconds(100), "through another daemon minus through the same, per round: \(extra)")
        for client in [waiter, observer, local, remote] { await client.close() }
    }

    /// A lease taken through a daemon that is then killed expires, and the job is claimed
    /// through another; the dead daemon's worker is fenced out.
    @Test func leaseOfAKilledDaemon_expiresAndIsClaimedThroughAnother() async throws {
        let daemons = try await cluster(2)
        let a = try await daemons[0].connect()
        let job = try await a.job(["op": "enqueue", "queue": "lease"])
        let claimed = try await a.job(["op": "claim", "queue": "lease", "lease_ms": 1000])
        #expect(claimed["id"] == job["id"])
        daemons[0].crash()
        let b = try await daemons[1].connect()
        let started = ContinuousClock.now
        let again = try await b.job(["op": "claim", "queue": "lease", "wait_ms": 10_000])
        #expect(again["id"] == job["id"] && again["attempt"] == 2)
        #expect(ContinuousClock.now - started < .seconds(4), "expired within about a second of its lease")
        let stale = try await b.send(["op": "complete", "job": job["id"]!, "version": claimed["version"]!])
        #expect(stale.errorCode == "stale_version")
        await b.close()
    }

    /// `watch` on one daemon sees every event of all of them, in one seq order, with no gap
    /// and no duplicate, while all of them write.
    @Test func watchOnOneDaemon_seesEveryEventOfAllInOneOrder() async throws {
        let daemons = try await cluster()
        let perDaemon = 400
        let socket = try RawSocket(path: daemons[0].socketPath)
        try await socket.send("{\"op\":\"watch\",\"since\":0}\n")
        _ = try await socket.readJSON()
        let writers = enqueueThroughEach(daemons, payloads: 0..<perDaemon)
        let total = perDaemon * daemons.count
        #expect(try await eventSeqs(from: socket, through: total) == Array(1...total), "every seq once, in order, none missing")
        for writer in writers { try await writer.value }
    }

    /// Each daemon enqueues one job per payload on queue `w`, on a connection of its own.
    func enqueueThroughEach(_ daemons: [Daemon], payloads: Range<Int>) -> [Task<Void, any Error>] {
        daemons.map { daemon in
            Task {
                let client = try await daemon.connect()
                for payload in payloads { _ = try await client.job(["op": "enqueue", "queue": "w", "payload": .int(Int64(payload))]) }
                await client.close()
            }
        }
    }

    /// The seqs of the events a watch receives, up to the one that reaches `last`.
    func eventSeqs(from watch: RawSocket, through last: Int) async throws -> [Int] {
        var seqs: [Int] = []
        while seqs.last ?? 0 < last {
            if let event = try await watch.readJSON()["event"] as? [String: Any] { seqs.append(event["seq"] as! Int) }
        }
        return seqs
    }

    /// While no connection watches, a daemon does not read the others' events back; a watch
    /// started after such a stretch, whether it replays from the start or goes live from its
    /// answer, still gets every event once and in order while all the daemons write.
    @Test func watchAfterUnwatchedWrites_missesNothing() async throws {
        let daemons = try await cluster()
        let perDaemon = 150
        for writer in enqueueThroughEach(daemons, payloads: 0..<perDaemon) { try await writer.value }
        // Unwatched, the followers are not woken by commits; their once-a-second round moves
        // their place on without reading. Let that round run before anyone watches.
        try await Task.sleep(for: .milliseconds(1500))
        let unwatched = perDaemon * daemons.count
        let replaying = try RawSocket(path: daemons[0].socketPath)
        try await replaying.send("{\"op\":\"watch\",\"since\":0}\n")
        _ = try await replaying.readJSON()
        let live = try RawSocket(path: daemons[1].socketPath)
        try await live.send("{\"op\":\"watch\"}\n")
        let latest = try #require(try await live.readJSON()["seq"] as? Int)
        #expect(latest == unwatched)
        let writers = enqueueThroughEach(daemons, payloads: perDaemon..<perDaemon * 2)
        let total = unwatched * 2
        #expect(try await eventSeqs(from: replaying, through: total) == Array(1...total), "the replay, then the live events")
        #expect(try await eventSeqs(from: live, through: total) == Array(latest + 1...total), "live from the answer's seq")
        for writer in writers { try await writer.value }
    }

    /// A schedule's slot fires once with every daemon running, and again none when they all
    /// restart (one of them killed).
    @Test func cronSlot_firesOnceAcrossDaemonsAndRestarts() async throws {
        let daemons = try await cluster()
        let client = try await daemons[0].connect()
        let put = try await client.send(["op": "schedule_put", "name": "tick", "cron": "* * * * *", "queue": "ticks", "version": 0])
        #expect(put["ok"] == true)
        let slot = (Int64(Date().timeIntervalSince1970) / 60 - 3) * 60_000
        let url = daemons[0].databasePath
        _ = try await offload { try TestPostgres.psql(url, "UPDATE docket_schedules SET next_run_at = \(slot) WHERE name = 'tick'") }
        func keys() async throws -> [String] {
            let probe = try await daemons[2].connect()
            defer { Task { await probe.close() } }
            return try await probe.send(["op": "list", "queue": "ticks"])["jobs"]?.array?.compactMap { $0["unique_key"]?.string } ?? []
        }
        let expected = Schedule.uniqueKey(name: "tick", slot: slot)
        let deadline = ContinuousClock.now + .seconds(10)
        while try await !keys().contains(expected), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        daemons[1].crash()
        daemons[2].stop()
        try await daemons[1].restart()
        try await daemons[2].restart()
        try await Task.sleep(for: .seconds(1.5))
        let fired = try await keys()
        #expect(fired.filter { $0 == expected }.count == 1, "the backdated slot fired once: \(fired)")
        #expect(Set(fired).count == fired.count, "no slot fired twice: \(fired)")
        await client.close()
    }

    /// `docketd --check` reads a PostgreSQL store; a password in the URL shows in no log line
    /// and no output.
    @Test func check_andThePasswordNeverShows() async throws {
        let plain = try await Daemon(.postgresql)
        let secret = "hunter2-\(getpid())"
        let url = plain.databasePath.replacingOccurrences(of: "postgresql://postgres@", with: "postgresql://postgres:\(secret)@")
        let daemon = try await Daemon(postgresURL: url)
        let client = try await daemon.connect()
        _ = try await client.job(["op": "enqueue", "queue": "q"])
        await client.close()
        let check = try Daemon.runToExit(["--check", "--db", url])
        #expect(check.status == 0, "\(check.output)")
        #expect(check.output.contains("schema version: 3") && check.output.contains("jobs:           1"), "\(check.output)")
        #expect(check.output.contains("integrity:      ok"), "\(check.output)")
        #expect(daemon.stop() == 0)
        #expect(daemon.log.contains("docketd serving") && daemon.log.contains("***"))
        #expect(!daemon.log.contains(secret) && !check.output.contains(secret))
        let unreachable = try Daemon.runToExit(["--check", "--db", "postgresql://postgres:\(secret)@/none?host=/nonexistent"])
        #expect(unreachable.status == 1 && !unreachable.output.contains(secret), "\(unreachable.output)")
    }
}
