import DocketClient
import DocketProtocol
import Foundation
import Testing

@Suite("systemd: socket activation, sd_notify and the watchdog")
struct ActivationTests {
    /// docketd starts at the first connection, serves it from the inherited socket, and
    /// says READY=1 once a new connection is answered by the migrated database.
    @Test func activatedByTheFirstConnection_readyWhenServing() async throws {
        let daemon = try Docketd.activated()
        try await Task.sleep(for: .milliseconds(300))
        #expect(daemon.notify.messages.isEmpty, "docketd started before anyone connected")
        let first = try await daemon.connect()
        #expect(try await first.send(["op": "stats"])["ok"] == true, "the connection that started docketd was not served")
        try await daemon.waitForReady()
        let second = try await daemon.connect()
        let enqueued = try await second.send(["op": "enqueue", "queue": "q"])
        #expect(enqueued["ok"] == true && enqueued["job"]?["version"] == 1)
        #expect(daemon.notify.messages.contains { $0.line == "STATUS=serving 1 inherited sockets" })
        #expect(daemon.notify.lines(startingWith: "WATCHDOG=").isEmpty, "WATCHDOG=1 without WATCHDOG_USEC")
        await first.close()
        await second.close()
        #expect(daemon.stop() == 0)
        #expect(FileManager.default.fileExists(atPath: daemon.socketPath), "docketd removed a socket systemd owns")
    }

    /// A database docketd cannot use: it exits with status 1 and never claims to be ready.
    @Test func refusedDatabase_noReady() async throws {
        let daemon = try Docketd.activated()
        try Data(repeating: UInt8(ascii: "x"), count: 8192).write(to: URL(fileURLWithPath: daemon.databasePath))
        let client = try? await daemon.connect()
        await client?.close()
        #expect(await daemon.exitStatus() == 1)
        #expect(daemon.log.contains("cannot open the database"))
        #expect(!daemon.notify.messages.contains { $0.line == "READY=1" })
    }

    /// A datagram socket is not something docketd can serve: it says which descriptor is
    /// wrong and how to fix the unit, and exits with status 2.
    @Test func datagramSocket_refusedWithAClearMessage() async throws {
        let daemon = try Docketd.activated(datagram: true)
        try sendDatagram("{\"op\":\"ping\"}\n", to: daemon.socketPath)
        #expect(await daemon.exitStatus() == 2)
        #expect(daemon.log.contains("inherited descriptor 3 (docket) is not a listening Unix stream socket"))
        #expect(daemon.log.contains("ListenStream="))
        #expect(daemon.notify.messages.isEmpty)
    }

    /// WATCHDOG_USEC=400000: WATCHDOG=1 about every 200 ms while the writer is healthy; once
    /// the writer is wedged inside a batch for longer than the period, no more.
    @Test func watchdog_atHalfThePeriod_withheldWhileTheWriterIsStuck() async throws {
        let daemon = try Docketd.activated(environment: [
            "WATCHDOG_USEC": "400000",
            // The fault hook: the first batch after 2.5 s of uptime never finishes.
            "DOCKETD_TEST_STALL_WRITER_AFTER_MS": "2500",
        ])
        let client = try await daemon.connect()
        #expect(try await client.send(["op": "ping"])["ok"] == true)
        let ready = try await daemon.waitForReady().at
        try await Task.sleep(until: ready + .milliseconds(2200))
        let healthy = daemon.notify.count("WATCHDOG=1", in: ready + .milliseconds(100)...ready + .milliseconds(2100))
        #expect((6...14).contains(healthy), "about 10 WATCHDOG=1 expected in 2 s, got \(healthy)")

        // READY=1 comes after the writer started, so by now its uptime is past 2.5 s: this
        // change wedges it, unless a timer's batch already has.
        try await Task.sleep(until: ready + .milliseconds(2700))
        let stalled = ContinuousClock.now
        let wedged = try connectAndSend("{\"op\":\"enqueue\",\"queue\":\"q\"}\n", to: daemon.socketPath)
        defer { close(wedged) }
        try await Task.sleep(until: stalled + .milliseconds(2600))
        // The writer is vouched for until it has been stuck for the whole period (400 ms);
        // a tick may have been in flight then too.
        let afterwards = daemon.notify.count("WATCHDOG=1", in: stalled + .milliseconds(800)...stalled + .milliseconds(2600))
        #expect(afterwards == 0, "WATCHDOG=1 kept coming while the writer was stuck")
        #expect(daemon.log.contains("withholding WATCHDOG=1"))
        // The wedged writer cannot drain either; under systemd, TimeoutStopSec ends in SIGKILL too.
        daemon.stop(signal: SIGKILL)
    }

    /// STATUS= carries the job counts and connections, refreshed every 5 s.
    @Test func status_keptCurrentAtAModestRate() async throws {
        let daemon = try Docketd.activated()
        let client = try await daemon.connect()
        try await daemon.waitForReady()
        for _ in 0..<3 {
            #expect(try await client.send(["op": "enqueue", "queue": "q"])["ok"] == true)
        }
        #expect(try await client.send(["op": "claim", "queue": "q"])["job"]?["state"] == "running")
        try await daemon.notify.waitFor(timeout: .seconds(15), "STATUS with the new counts") {
            $0 == "STATUS=2 pending, 1 running, 0 completed, 0 failed, 0 cancelled; 1 connections, 0 waiting claims"
        }
        let counts = daemon.notify.lines(startingWith: "STATUS=").filter { !$0.line.hasPrefix("STATUS=serving") }
        let gaps = zip(counts, counts.dropFirst()).map { $1.at - $0.at }
        #expect(gaps.allSatisfy { $0 > .milliseconds(4500) }, "STATUS more often than every 5 s: \(gaps)")
        await client.close()
        #expect(daemon.stop() == 0)
    }

    /// SIGTERM: STOPPING=1, then a clean exit.
    @Test func sigterm_sendsStopping() async throws {
        let daemon = try Docketd.activated()
        let client = try await daemon.connect()
        #expect(try await client.send(["op": "ping"])["ok"] == true)
        let ready = try await daemon.waitForReady()
        #expect(daemon.stop() == 0)
        let stopping = try await daemon.notify.waitFor(timeout: .seconds(5), line: "STOPPING=1")
        #expect(stopping.at >= ready.at)
    }

    /// Two inherited sockets, both served; the one named `readonly` answers every read and
    /// refuses everything else with `forbidden` (a backup too: it writes a file), and its
    /// connection stays open.
    @Test func readonlySocket_servesReads_refusesChanges() async throws {
        let daemon = try Docketd.activated(extraSockets: ["readonly"])
        let writer = try await daemon.connect()
        let job = try #require(try await writer.send(["op": "enqueue", "queue": "q", "payload": ["n": 1]])["job"])
        let id = try #require(job["id"]?.int64)
        try await daemon.waitForReady()
        #expect(daemon.notify.messages.contains { $0.line == "STATUS=serving 2 inherited sockets" })

        let reader = try await daemon.connect(daemon.path(ofSocket: "readonly"))
        let backup = daemon.folder.appendingPathComponent("backup.db").path
        let reads: [JSONValue] = [
            ["op": "hello"], ["op": "ping"], ["op": "get", "job": .int(id), "events": true], ["op": "list", "queue": "q"],
            ["op": "stats"], ["op": "schedule_list"],
        ]
        for request in reads {
            let answer = try await reader.send(request)
            #expect(answer["ok"] == true, "\(request) on the read-only socket: \(answer)")
        }
        let missing = try await reader.send(["op": "schedule_get", "name": "nightly"])
        #expect(missing["error"]?["code"] == "not_found", "schedule_get is a read: \(missing)")
        let changes: [JSONValue] = [
            ["op": "enqueue", "queue": "q"], ["op": "claim", "queue": "q"],
            ["op": "progress", "job": .int(id), "version": 1], ["op": "complete", "job": .int(id), "version": 1],
            ["op": "fail", "job": .int(id), "version": 1], ["op": "cancel", "job": .int(id), "version": 1],
            ["op": "retry", "job": .int(id), "version": 1],
            ["op": "schedule_put", "name": "nightly", "cron": "0 3 * * *", "queue": "q", "version": 0],
            ["op": "schedule_delete", "name": "nightly", "version": 1],
            ["op": "enqueue", "jobs": [["queue": "q"], ["queue": "q"]]],
            ["op": "purge", "queue": "q", "before": "2100-01-01T00:00:00Z"],
            ["op": "backup", "path": .string(backup)],
        ]
        for request in changes {
            let answer = try await reader.send(request)
            #expect(answer["error"]?["code"] == "forbidden", "\(request) on the read-only socket: \(answer)")
        }
        let watching = try await reader.send(["op": "watch", "job": .int(id)])
        #expect(watching["ok"] == true, "watch is a read: \(watching)")
        #expect(try await reader.send(["op": "ping"])["ok"] == true, "the read-only connection was closed")
        #expect(!FileManager.default.fileExists(atPath: backup))

        let unchanged = try await writer.send(["op": "get", "job": .int(id)])
        #expect(unchanged["job"]?["version"] == 1 && unchanged["job"]?["state"] == "pending")
        let stats = try await writer.send(["op": "stats"])
        #expect(stats["queues"] == ["q": ["pending": 1]])
        await reader.close()
        await writer.close()
        #expect(daemon.stop() == 0)
    }
}
