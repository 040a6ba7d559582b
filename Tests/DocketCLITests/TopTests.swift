import DocketClient
import DocketProtocol
import DocketTestSupport
import Foundation
import Testing

/// `docket top` as a person sees it: under a real tmux at 80 × 24, and piped.
@Suite("docket top and docket metrics")
struct TopTests {
    /// Two queues; in emails three claims (one reporting progress, one failed for good), two
    /// jobs left pending; in reports two pending.
    static func fixture() async throws -> TestDaemon {
        let daemon = try await TestDaemon.started()
        let client = daemon.client()
        for index in 0..<5 { _ = try await client.enqueue(queue: "emails", payload: ["to": .string("u\(index)@example.com")]) }
        for month in 1...2 { _ = try await client.enqueue(queue: "reports", payload: ["month": .int(month)]) }
        var claimed: [Job] = []
        for worker in ["mailer-1", "mailer-2", "mailer-3"] {
            claimed.append(try #require(try await client.claim(queues: ["emails"], lease: .seconds(600), worker: worker)))
        }
        _ = try await client.progress(job: claimed[0].id, version: claimed[0].version, progress: ["pct": 40])
        _ = try await client.fail(job: claimed[2].id, version: claimed[2].version, error: ["code": "smtp"], retry: false)
        await client.close()
        return daemon
    }

    /// A queue row's name, pending and running columns as `docket top` lays them out.
    static func row(_ name: String, pending: Int, running: Int) -> String {
        func right(_ value: Int) -> String { String(repeating: " ", count: 8 - String(value).count) + String(value) }
        return name + String(repeating: " ", count: 20 - name.count) + " " + right(pending) + " " + right(running)
    }

    @Test func snapshot_whenNotATerminal() async throws {
        let daemon = try await Self.fixture()
        let run = try await CommandLine(socketPath: daemon.socketPath).run(["top"])
        #expect(run.status == 0)
        #expect(!run.stdout.contains("\u{1B}"))
        let lines = run.lines
        #expect(lines.allSatisfy { $0.count <= 80 })
        // The socket path is cut short where the line would run into the clock.
        #expect(lines[0].hasPrefix("docket top: docketd 0.1.0 (sqlite) on /tmp/dkc-") && lines[0].hasSuffix(" UTC"))
        #expect(lines[1].hasPrefix("1 connection, 0 waiting claims") || lines[1].hasPrefix("2 connections, 0 waiting claims"))
        #expect(lines.contains { $0.hasPrefix("  " + Self.row("(all queues)", pending: 4, running: 2)) })
        #expect(lines.contains { $0.hasPrefix("  " + Self.row("emails", pending: 2, running: 2)) })
        #expect(lines.contains { $0.hasPrefix("  " + Self.row("reports", pending: 2, running: 0)) })
        #expect(lines.contains("RUNNING (all queues) 2"))
        #expect(lines.contains { $0.hasPrefix("  1        emails         mailer-1") && $0.contains(#"{"pct":40}"#) && $0.hasSuffix("9m") })
        #expect(lines.contains { $0.hasPrefix("  2        emails         mailer-2") })
        #expect(lines.contains { $0.contains("#3       emails       final  {\"code\":\"smtp\"}") })
        #expect(!lines.contains { $0.contains("q quit") })
    }

    @Test func live_underTmux_at80x24() async throws {
        let daemon = try await Self.fixture()
        let screen = try await TmuxScreen.start(daemon: daemon, command: "exec \(TmuxScreen.docket) top")
        defer { screen.kill() }
        var lines = try await screen.waitFor { $0.contains { $0.hasPrefix("  1        emails         mailer-1") } }
        #expect(lines.count == 24)
        #expect(lines[0].hasPrefix("docket top: docketd 0.1.0 (sqlite) on "))
        #expect(lines[0].hasSuffix(" UTC"))
        #expect(lines[2] == "  QUEUE                 PENDING  RUNNING   DONE/S  FAIL/S      LAG  STATE")
        #expect(lines[3].hasPrefix("> " + Self.row("(all queues)", pending: 4, running: 2)))
        #expect(lines.contains { $0.hasPrefix("  " + Self.row("emails", pending: 2, running: 2)) })
        #expect(lines.contains { $0.contains("#3       emails       final  {\"code\":\"smtp\"}") })
        #expect(lines[23] == "q quit  Up/Down select a queue  p pause/resume it")

        // Down selects emails: its running jobs and failures only.
        try await screen.keys("Down")
        lines = try await screen.waitFor { $0.contains { $0.hasPrefix("> emails") } }
        #expect(lines.contains("RUNNING (emails) 2"))
        #expect(lines.contains("LAST FAILURES (emails)"))

        // p pauses emails where the daemon has queue controls, and says so where it has not.
        try await screen.keys("p")
        lines = try await screen.waitFor { $0[23].contains("| ") }
        #expect(lines[23].contains("emails paused"))
        #expect(lines.contains { $0.hasPrefix("> " + Self.row("emails", pending: 2, running: 2)) && $0.hasSuffix("paused") })
        #expect(try await daemon.client().claim(queues: ["emails"]) == nil, "a paused queue hands out nothing")
        try await screen.keys("p")
        lines = try await screen.waitFor { $0[23].contains("emails resumed") }

        // The view follows the daemon: a claim elsewhere shows up within a refresh.
        let client = daemon.client()
        _ = try await client.claim(queues: ["emails"], lease: .seconds(60), worker: "mailer-4")
        lines = try await screen.waitFor { $0.contains { $0.hasPrefix("  4        emails         mailer-4") } }
        #expect(lines.contains("RUNNING (emails) 3"))
        await client.close()

        try await screen.keys("q")
        try await screen.waitUntilGone()
    }

    /// Colours and reverse video on a terminal, none of either under NO_COLOR.
    @Test(arguments: [true, false]) func colours_onlyWithoutNoColor(_ colour: Bool) async throws {
        let daemon = try await Self.fixture()
        let screen = try await TmuxScreen.start(daemon: daemon, command: "exec \(TmuxScreen.docket) top", colour: colour)
        defer { screen.kill() }
        _ = try await screen.waitFor { $0.contains { $0.hasPrefix("RUNNING (all queues)") } }
        let styled = try await screen.capture(styles: true).joined(separator: "\n")
        #expect(styled.contains("\u{1B}[") == colour)
        try await screen.keys("q")
    }

    /// q, SIGINT and SIGTERM all give the terminal back: the shell's screen returns and the
    /// line discipline is cooked and echoing again.
    @Test(arguments: ["q", "SIGINT", "SIGTERM"]) func exit_restoresTheTerminal(_ way: String) async throws {
        let daemon = try await Self.fixture()
        let screen = try await TmuxScreen.start(daemon: daemon, command: "exec bash --norc --noprofile")
        defer { screen.kill() }
        try await screen.type("PS1='ready> '; clear")
        try await screen.type("\(TmuxScreen.docket) top")
        _ = try await screen.waitFor { $0.contains { $0.hasPrefix("RUNNING (all queues)") } }
        switch way {
        case "q": try await screen.keys("q")
        default:
            let pid = try await screen.childOfShell()
            kill(pid, way == "SIGINT" ? SIGINT : SIGTERM)
        }
        _ = try await screen.waitFor { lines in lines.contains { $0.hasPrefix("ready> ") } && !lines.contains { $0.hasPrefix("RUNNING") } }
        let settings = screen.folder.appendingPathComponent("stty.txt")
        try await screen.type("stty -a > \(settings.path)")
        let stty = Set(try await Eventually.contents(of: settings).split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == ";" }))
        #expect(stty.contains("icanon") && stty.contains("echo") && stty.contains("isig") && stty.contains("ixon"))
    }

    @Test func metrics_printsThePrometheusText() async throws {
        let daemon = try await Self.fixture()
        let run = try await CommandLine(socketPath: daemon.socketPath).run(["metrics"])
        #expect(run.status == 0)
        #expect(run.stdout.contains("# TYPE docket_jobs gauge\n"))
        #expect(run.stdout.contains("docket_jobs{queue=\"emails\",state=\"pending\"} 2.0\n"))
        #expect(run.stdout.contains("docket_jobs_failed_total{queue=\"emails\"} 1\n"))
        let json = try await CommandLine(socketPath: daemon.socketPath).run(["metrics", "--json"])
        #expect(json.stdout.hasPrefix("{\"text\":\"# HELP docket_jobs "))
    }
}
