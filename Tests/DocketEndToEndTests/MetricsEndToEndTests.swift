import DocketClient
import DocketProtocol
import DocketTestSupport
import Foundation
import Testing

@Suite("End to end: metrics over the socket and over HTTP, read by a real Prometheus parser")
struct MetricsEndToEndTests {
    /// After a known workload every figure is exact: 1,000 jobs enqueued over two queues, 50
    /// failed once and retried, 700 completed, 200 failed for good, 100 left running, three
    /// leases expired on their last attempt, and a few refused requests.
    @Test(arguments: Backend.available) func knownWorkload_everyFigureExact(_ backend: Backend) async throws {
        let daemon = try await Daemon(backend, arguments: ["--metrics-listen", "127.0.0.1:0"])
        let client = try await daemon.connect()
        let work = try await Workload.run(on: client)

        // Leases that pass on the last attempt: a lease expiry and a final failure each.
        _ = try await client.send(["op": "enqueue", "jobs": .array((0..<3).map { _ in ["queue": "short", "max_attempts": 1] })])
        for _ in 0..<3 { _ = try await client.job(["op": "claim", "queue": "short", "lease_ms": 50]) }
        _ = try await Eventually.value(within: .seconds(20)) {
            let scrape = try await Scrape.parse(try await Scrape.viaOp(client))
            return scrape.value("docket_jobs", ["queue": "short", "state": "failed"]) == 3 ? scrape : nil
        }
        _ = try await client.send(["op": "claim"])
        _ = try await client.send(["op": "no_such_op"])
        _ = try await client.send(["op": "complete", "job": .int(work.completedJob), "version": 2])

        let scrape = try await Scrape.parse(try await Scrape.viaHTTP(daemon).body)
        for queue in ["mail", "report"] {
            let figures = work.figures[queue]!
            #expect(scrape.value("docket_jobs_enqueued_total", ["queue": queue]) == Double(figures.enqueued))
            #expect(scrape.value("docket_jobs_claimed_total", ["queue": queue]) == Double(figures.claimed))
            #expect(scrape.value("docket_jobs_completed_total", ["queue": queue]) == Double(figures.completed))
            #expect(scrape.value("docket_jobs_failed_total", ["queue": queue]) == Double(figures.failed))
            #expect(scrape.value("docket_lease_expired_total", ["queue": queue]) == 0)
            #expect(scrape.value("docket_jobs", ["queue": queue, "state": "running"]) == Double(figures.running))
            #expect(scrape.value("docket_jobs", ["queue": queue, "state": "completed"]) == Double(figures.completed))
            #expect(scrape.value("docket_jobs", ["queue": queue, "state": "failed"]) == Double(figures.failed))
            #expect(scrape.value("docket_jobs", ["queue": queue, "state": "pending"]) == 0)
            #expect(scrape.value("docket_queue_lag_seconds", ["queue": queue]) == 0)
            #expect(scrape.value("docket_job_wait_seconds_count", ["queue": queue]) == Double(figures.claimed))
            #expect(scrape.value("docket_job_run_seconds_count", ["queue": queue]) == Double(figures.completed + figures.failed))
        }
        #expect(work.figures.values.map(\.enqueued).reduce(0, +) == 1000)
        #expect(work.figures.values.map(\.completed).reduce(0, +) == 700)
        #expect(work.figures.values.map(\.failed).reduce(0, +) == 200)
        #expect(work.figures.values.map(\.running).reduce(0, +) == 100)
        #expect(work.figures.values.map(\.claimed).reduce(0, +) == 1050)
        #expect(scrape.value("docket_jobs_enqueued_total", ["queue": "short"]) == 3)
        #expect(scrape.value("docket_lease_expired_total", ["queue": "short"]) == 3)
        #expect(scrape.value("docket_jobs_failed_total", ["queue": "short"]) == 3)
        #expect(scrape.value("docket_job_run_seconds_count", ["queue": "short"]) == 3)
        #expect(scrape.value("docket_requests_total", ["op": "enqueue", "outcome": "ok"]) == 11)
        #expect(scrape.value("docket_requests_total", ["op": "claim", "outcome": "ok"]) == 1053)
        #expect(scrape.value("docket_requests_total", ["op": "complete", "outcome": "ok"]) == 700)
        #expect(scrape.value("docket_requests_total", ["op": "fail", "outcome": "ok"]) == 250)
        #expect(scrape.value("docket_requests_total", ["op": "complete", "outcome": "stale_version"]) == 1)
        #expect(scrape.value("docket_requests_total", ["op": "claim", "outcome": "bad_request"]) == 1)
        #expect(scrape.value("docket_requests_total", ["op": "unknown", "outcome": "unknown_op"]) == 1)
        #expect(scrape.value("docket_connections", [:]) == 1)
        #expect(scrape.value("docket_waiting_claims", [:]) == 0)
        #expect((scrape.value("docket_commit_seconds_count", [:]) ?? 0) > 0)
        await client.close()
    }

    /// A job that waited for another counts its wait, and its queue's lag, from when that one
    /// completed, not from its enqueue: the time it was blocked is the pipeline's, not a want
    /// of workers. On PostgreSQL it is claimed through a second daemon, which never saw the
    /// release and knows it only from the job.
    @Test(arguments: Backend.available) func releasedJob_waitAndLagCountFromItsRelease(_ backend: Backend) async throws {
        let daemon = try await Daemon(backend)
        let claimingDaemon = try await backend == .postgresql ? Daemon(sharing: daemon) : daemon
        let client = try await daemon.connect()
        let claimer = try await claimingDaemon.connect()
        let first = try await client.job(["op": "enqueue", "queue": "stage1"])
        _ = try await client.job(["op": "enqueue", "queue": "stage2", "after": [first["id"]!]])
        let running = try await client.job(["op": "claim", "queue": "stage1"])
        try await Task.sleep(for: .seconds(2))
        // The release happens after the complete is sent, and the scrape and the claim before
        // the claim's answer arrives, so the lag and the wait fit in between, however slowly
        // this process gets to run; counted from the enqueue they would be two seconds longer.
        let completeSent = ContinuousClock.now
        _ = try await client.job(["op": "complete", "job": running["id"]!, "version": running["version"]!])
        let lag = try await Scrape.parse(try await Scrape.viaOp(claimer)).value("docket_queue_lag_seconds", ["queue": "stage2"])
        _ = try await claimer.job(["op": "claim", "queue": "stage2"])
        let between = (ContinuousClock.now - completeSent) / .seconds(1)
        let scrape = try await Scrape.parse(try await Scrape.viaOp(claimer))
        // Times are whole milliseconds on the daemon's side.
        #expect((lag ?? 99) <= between + 0.002)
        #expect(scrape.value("docket_job_wait_seconds_count", ["queue": "stage2"]) == 1)
        #expect((scrape.value("docket_job_wait_seconds_sum", ["queue": "stage2"]) ?? 99) <= between + 0.002)
        let runTimes = try await Scrape.parse(try await Scrape.viaOp(client))
        #expect((runTimes.value("docket_job_run_seconds_sum", ["queue": "stage1"]) ?? 0) >= 2)
        await client.close()
        await claimer.close()
    }

    /// Two daemons on one PostgreSQL database: each counts what went through it, and both
    /// report the store's figures whole.
    @Test(.enabled(if: Backend.available.contains(.postgresql))) func twoDaemonsOneStore_countersPerDaemon_gaugesWhole()
        async throws
    {
        let first = try await Daemon(.postgresql)
        let second = try await Daemon(sharing: first)
        let (a, b) = (try await first.connect(), try await second.connect())
        _ = try await a.send(["op": "enqueue", "jobs": .array((0..<10).map { _ in ["queue": "shared"] })])
        for _ in 0..<4 {
            let job = try await b.job(["op": "claim", "queue": "shared"])
            _ = try await b.job(["op": "complete", "job": job["id"]!, "version": job["version"]!])
        }
        let viaFirst = try await Scrape.parse(try await Scrape.viaOp(a))
        let viaSecond = try await Scrape.parse(try await Scrape.viaOp(b))
        #expect(viaFirst.value("docket_jobs_enqueued_total", ["queue": "shared"]) == 10)
        #expect(viaSecond.value("docket_jobs_enqueued_total", ["queue": "shared"]) == 0)
        #expect(viaFirst.value("docket_jobs_completed_total", ["queue": "shared"]) == 0)
        #expect(viaSecond.value("docket_jobs_completed_total", ["queue": "shared"]) == 4)
        #expect(viaSecond.value("docket_jobs_claimed_total", ["queue": "shared"]) == 4)
        for scrape in [viaFirst, viaSecond] {
            #expect(scrape.value("docket_jobs", ["queue": "shared", "state": "completed"]) == 4)
            #expect(scrape.value("docket_jobs", ["queue": "shared", "state": "pending"]) == 6)
            #expect((scrape.value("docket_queue_lag_seconds", ["queue": "shared"]) ?? 0) > 0)
            #expect(scrape.families["docket_jobs"]?.help.contains("Whole store") == true)
            #expect(scrape.families["docket_jobs_completed"]?.help.contains("Per daemon") == true)
        }
        await a.close()
        await b.close()
    }

    /// Every metric of the contract is there with its type and a help text, in a daemon's
    /// first scrape after one job went through.
    @Test(arguments: Backend.available) func everyContractMetric_withTypeAndHelp(_ backend: Backend) async throws {
        let daemon = try await Daemon(backend)
        let client = try await daemon.connect()
        let job = try await client.job(["op": "enqueue", "queue": "q"])
        let claimed = try await client.job(["op": "claim", "queue": "q"])
        _ = try await client.job(["op": "complete", "job": claimed["id"]!, "version": claimed["version"]!])
        #expect(job["id"] == claimed["id"])
        let scrape = try await Scrape.parse(try await Scrape.viaOp(client))
        let expected: [(String, String)] = [
            ("docket_jobs", "gauge"), ("docket_queue_lag_seconds", "gauge"), ("docket_jobs_enqueued", "counter"),
            ("docket_jobs_claimed", "counter"), ("docket_jobs_completed", "counter"), ("docket_jobs_failed", "counter"),
            ("docket_lease_expired", "counter"), ("docket_requests", "counter"), ("docket_connections", "gauge"),
            ("docket_waiting_claims", "gauge"), ("docket_job_wait_seconds", "histogram"), ("docket_job_run_seconds", "histogram"),
            ("docket_commit_seconds", "histogram"),
        ]
        for (name, type) in expected {
            #expect(scrape.families[name]?.type == type, "\(name)")
            #expect(scrape.families[name]?.help.isEmpty == false, "\(name)")
        }
        #expect(scrape.families.count == expected.count)
        await client.close()
    }

    /// `GET /metrics` answers with the exposition's content type; other paths are 404, other
    /// methods 405; `HEAD` has the headers and no body.
    @Test func http_pathsMethodsAndContentType() async throws {
        let daemon = try await Daemon(arguments: ["--metrics-listen", "127.0.0.1:0"])
        let url = try Scrape.url(daemon)
        let ok = try await Scrape.viaHTTP(daemon)
        #expect(ok.status == 200)
        #expect(ok.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        #expect(ok.body.contains("# TYPE docket_commit_seconds histogram"))
        let base = String(url.dropLast("/metrics".count))
        for (arguments, status) in [
            (["\(base)/"], "404"), (["\(base)/metrics/x"], "404"), (["-X", "POST", url], "405"), (["-X", "DELETE", url], "405"),
            (["\(url)?name[]=docket_jobs"], "200"),
        ] {
            let answer = try await Tool.run(["curl", "-s", "-g", "-o", "/dev/null", "-w", "%{http_code}"] + arguments)
            #expect(answer.stdout == status, "\(arguments)")
        }
        let head = try await Tool.run(["curl", "-s", "-I", url])
        #expect(head.stdout.hasPrefix("HTTP/1.1 200"))
        #expect(head.stdout.lowercased().contains("content-type: text/plain; version=0.0.4; charset=utf-8"))
    }

    /// Scrapers hammering /metrics get right answers and do not hold the job socket up: 150
    /// jobs go through enqueue, claim and complete while 8 scrapes at a time run, within a
    /// few times what the same 150 take without them (the curl processes share the machine's
    /// two cores, so some slowdown is theirs, not the daemon's).
    @Test func http_scrapesDoNotHoldUpTheJobSocket() async throws {
        let daemon = try await Daemon(arguments: ["--metrics-listen", "127.0.0.1:0"])
        let url = try Scrape.url(daemon)
        let client = try await daemon.connect()
        let alone = try await Self.cycles(150, queue: "alone", on: client)
        let scrapers = Task {
            var statuses: [String] = []
            while !Task.isCancelled {
                let round = try await withThrowingTaskGroup(of: String.self) { group in
                    for _ in 0..<8 { group.addTask { try await Tool.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url]).stdout } }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                statuses += round
            }
            return statuses
        }
        let scraped = try await Self.cycles(150, queue: "busy", on: client)
        scrapers.cancel()
        let statuses = try await scrapers.value
        #expect(!statuses.isEmpty && statuses.allSatisfy { $0 == "200" })
        #expect(scraped < alone * 5 + .seconds(2), "150 cycles took \(alone) alone and \(scraped) while scraped")
        let scrape = try await Scrape.parse(try await Scrape.viaHTTP(daemon).body)
        #expect(scrape.value("docket_jobs_completed_total", ["queue": "busy"]) == 150)
        await client.close()
    }

    /// How long `count` jobs take through enqueue, claim and complete, one at a time.
    static func cycles(_ count: Int, queue: String, on client: DocketConnection) async throws -> Duration {
        let started = ContinuousClock.now
        for index in 0..<count {
            _ = try await client.job(["op": "enqueue", "queue": .string(queue), "payload": .int(Int64(index))])
            let job = try await client.job(["op": "claim", "queue": .string(queue)])
            _ = try await client.job(["op": "complete", "job": job["id"]!, "version": job["version"]!])
        }
        return ContinuousClock.now - started
    }

    /// Every docket_* name the Grafana dashboard and the alert rules use is in a real scrape,
    /// and the dashboard has the panels an operator looks at first.
    @Test(arguments: Backend.available) func contrib_dashboardAndRulesNameRealMetrics(_ backend: Backend) async throws {
        let daemon = try await Daemon(backend, arguments: ["--metrics-listen", "127.0.0.1:0"])
        let client = try await daemon.connect()
        _ = try await client.job(["op": "enqueue", "queue": "q"])
        _ = try await client.job(["op": "claim", "queue": "q"])
        let dashboard = Scrape.contrib.appendingPathComponent("grafana/docket-dashboard.json")
        let rules = Scrape.contrib.appendingPathComponent("prometheus/alerts.yml")
        _ = try await Scrape.parse(try await Scrape.viaHTTP(daemon).body, uses: [dashboard, rules])
        let panels = try JSONParser.parse(Array(try Data(contentsOf: dashboard)))["panels"]?.array ?? []
        let titles = panels.compactMap { $0["title"]?.string }
        for wanted in ["Throughput by queue", "Queue lag", "Wait time percentiles", "Run time percentiles", "Failures by queue", "Running by queue"] {
            #expect(titles.contains { $0.hasPrefix(wanted) }, "no panel \(wanted)")
        }
        #expect(panels.allSatisfy { !($0["targets"]?.array ?? []).isEmpty })
        await client.close()
    }

    /// Without --metrics-listen nothing but the socket serves the metrics.
    @Test func http_offByDefault() async throws {
        let daemon = try await Daemon()
        #expect(daemon.log.contains("metrics=the metrics op only"))
        let client = try await daemon.connect()
        #expect(try await Scrape.viaOp(client).contains("# TYPE docket_commit_seconds histogram"))
        await client.close()
    }
}
