import DocketProtocol
import Foundation
import Testing

@Suite("contrib/: the socat cookbook and the systemd units")
struct ContribTests {
    static let contrib = Docketd.packageRoot.appendingPathComponent("contrib")

    /// One `## name` section of the cookbook's output: the requests it sent and the answers.
    struct Example {
        var requests: [String] = []
        var answers: [JSONValue] = []
    }

    static func runCookbook(against socket: String) async throws -> Finished {
        var environment = ProcessInfo.processInfo.environment
        environment["DOCKET_SOCKET"] = socket
        environment["COOKBOOK_QUEUE"] = "cookbook"
        let finished = try await run(["/bin/sh", contrib.appendingPathComponent("socat-cookbook.sh").path], environment: environment)
        #expect(finished.status == 0 && finished.errors.isEmpty, "\(finished.errors)")
        return finished
    }

    /// Runs every example of socat-cookbook.sh against a real docketd and checks each answer.
    @Test func socatCookbook_everyExampleWorks() async throws {
        let daemon = try await Docketd.standalone()
        let finished = try await Self.runCookbook(against: daemon.socketPath)

        var order: [String] = []
        var examples: [String: Example] = [:]
        for line in finished.output.split(separator: "\n").map(String.init) {
            if line.hasPrefix("## ") {
                order.append(String(line.dropFirst(3)))
            } else if let name = order.last, line.hasPrefix("> ") {
                examples[name, default: Example()].requests.append(String(line.dropFirst(2)))
            } else if let name = order.last {
                examples[name, default: Example()].answers.append(try JSONParser.parse(line))
            }
        }
        #expect(
            order == [
                "hello", "enqueue", "claim", "progress", "complete", "stale_version", "fail", "get_with_events", "list",
                "stats", "pipelining",
            ])
        for (name, example) in examples {
            #expect(example.requests.count == example.answers.count, "\(name): one answer per request")
            for request in example.requests { #expect(throws: Never.self, "\(name) sent bad JSON") { try JSONParser.parse(request) } }
        }
        func answer(_ name: String, _ index: Int = 0) -> JSONValue {
            let answers = examples[name]?.answers ?? []
            return index < answers.count ? answers[index] : .null
        }
        let peer = "@\(getuid())"

        #expect(answer("hello")["protocol"] == 1 && answer("hello")["server"] != nil)
        #expect(answer("enqueue")["job"]?["state"] == "pending" && answer("enqueue")["job"]?["version"] == 1)
        #expect(answer("enqueue")["created"] == true)
        let claimed = answer("claim")["job"]
        #expect(claimed?["state"] == "running" && claimed?["version"] == 2)
        #expect(claimed?["worker"]?.string?.hasSuffix(peer) == true, "a claim without worker records pid@uid: \(answer("claim"))")
        #expect(answer("progress")["job"]?["version"] == 3 && answer("progress")["job"]?["progress"] == ["pct": 50])
        #expect(answer("complete")["job"]?["state"] == "completed" && answer("complete")["job"]?["version"] == 4)
        let stale = answer("stale_version")["error"]
        #expect(stale?["code"] == "stale_version" && stale?["job"] == ["id": 1, "version": 4, "state": "completed"])

        #expect(answer("fail", 1)["job"]?["id"] == 2, "the fail example claimed another job than its own")
        let failed = answer("fail", 2)["job"]
        #expect(failed?["state"] == "pending" && failed?["attempt"] == 1 && failed?["last_error"] == ["smtp": 421])

        let events = answer("get_with_events")["events"]?.array ?? []
        #expect(events.compactMap { $0["type"]?.string } == ["enqueued", "claimed", "progress", "completed"])
        #expect(events.allSatisfy { $0["peer"]?.string?.hasSuffix(peer) == true }, "\(events)")

        #expect(answer("list", 0)["jobs"]?.array?.map { $0["id"] } == [1] && answer("list", 0)["next"] == 1)
        #expect(answer("list", 1)["jobs"]?.array?.map { $0["id"] } == [2] && answer("list", 1)["next"] == .null)
        #expect(answer("stats")["queues"]?["cookbook"]?["completed"] == 1 && answer("stats")["queues"]?["cookbook"]?["pending"] == 1)

        let pipelined = examples["pipelining"]?.answers ?? []
        #expect(pipelined.map { $0["id"] } == ["a", "b", "c", "d"], "answers out of request order")
        #expect(pipelined.prefix(3).allSatisfy { $0["created"] == true })
        let listed = pipelined.last?["jobs"]?.array?.compactMap { $0["id"]?.int64 }
        #expect(listed == [2, 3, 4, 5], "\(pipelined)")
    }

    /// `systemd-analyze verify` on every unit, system and user. It needs ExecStart to exist,
    /// so each unit is checked as a copy that runs the docketd built for these tests, and
    /// since it only warns about unknown keys or bad values, any output at all fails.
    @Test(arguments: ["", "user"])
    func units_passSystemdAnalyzeVerify(_ subfolder: String) async throws {
        let source = Self.contrib.appendingPathComponent(subfolder)
        let units = try FileManager.default.contentsOfDirectory(atPath: source.path)
            .filter { $0.hasSuffix(".socket") || $0.hasSuffix(".service") }.sorted()
        #expect(units.contains("docketd.socket") && units.contains("docketd.service"))

        let copies = URL(fileURLWithPath: "/tmp/dks-units-\(getpid())-\(UUID().uuidString.prefix(8))")
        let runtime = copies.appendingPathComponent("runtime")
        try FileManager.default.createDirectory(at: runtime, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: copies) }
        for unit in units {
            let text = try String(contentsOf: source.appendingPathComponent(unit), encoding: .utf8)
            if unit.hasSuffix(".service") {
                #expect(text.contains("\nExecStart=/usr/local/bin/docketd"), "\(unit) runs something else")
            }
            try text.replacingOccurrences(of: "ExecStart=/usr/local/bin/docketd", with: "ExecStart=\(Docketd.executable.path)")
                .write(to: copies.appendingPathComponent(unit), atomically: true, encoding: .utf8)
        }
        var environment = ProcessInfo.processInfo.environment
        // The user manager's search path starts at XDG_RUNTIME_DIR, which root lacks here.
        environment["XDG_RUNTIME_DIR"] = runtime.path
        let finished = try await run(
            ["/usr/bin/systemd-analyze"] + (subfolder == "user" ? ["--user"] : []) + ["verify"]
                + units.map { copies.appendingPathComponent($0).path },
            environment: environment)
        #expect(finished.status == 0 && finished.output.isEmpty && finished.errors.isEmpty,
                "systemd-analyze verify \(subfolder) units:\n\(finished.output)\(finished.errors)")
    }

    /// The Prometheus files load as Prometheus would load them, and every alert passes its
    /// unit tests (`alerts_test.yml`: it fires on the trouble it names, with the text an
    /// operator reads, and stays quiet on a healthy store). promtool comes with Debian's
    /// `prometheus` package.
    @Test func prometheusFiles_passPromtool() async throws {
        let folder = Self.contrib.appendingPathComponent("prometheus")
        for check in [
            ["check", "config", "prometheus.yml"], ["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"],
        ] {
            // promtool reads rule_files relative to the working directory.
            let finished = try await run(
                ["/bin/sh", "-c", "cd \"$0\" && exec promtool \"$@\"", folder.path] + check)
            #expect(finished.status == 0 && finished.output.contains("SUCCESS"),
                    "promtool \(check.joined(separator: " ")):\n\(finished.output)\(finished.errors)")
        }
    }

    /// docketd.service's sandbox cannot be tried without systemd as PID 1, so docketd runs
    /// under strace, as an unprivileged user like the unit's DynamicUser, through the cookbook
    /// and a SIGTERM instead, and everything it did must be allowed by the unit: each system
    /// call by its SystemCallFilter= lines, each socket by RestrictAddressFamilies=AF_UNIX,
    /// each mapping by MemoryDenyWriteExecute=.
    @Test func serviceSandbox_allowsEverythingDocketdDoes() async throws {
        let unit = try String(contentsOf: Self.contrib.appendingPathComponent("docketd.service"), encoding: .utf8)
        var allowed = Set<String>()
        for filter in unit.split(separator: "\n").filter({ $0.hasPrefix("SystemCallFilter=") }) {
            let value = filter.dropFirst("SystemCallFilter=".count)
            let names = try await Self.syscalls(in: value.drop { $0 == "~" }.split(separator: " ").map(String.init))
            if value.hasPrefix("~") { allowed.subtract(names) } else { allowed.formUnion(names) }
        }
        #expect(allowed.contains("read") && !allowed.contains("setuid"), "SystemCallFilter= not understood")
        #expect(unit.contains("\nRestrictAddressFamilies=AF_UNIX\n") && unit.contains("\nMemoryDenyWriteExecute=yes\n"))

        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/strace"), "this test needs strace (apt-get install strace)")
        let trace = "/tmp/dks-trace-\(getpid())-\(UUID().uuidString.prefix(8))"
        defer { unlink(trace) }
        // -D keeps strace out of the way: docketd stays the process systemd-socket-activate
        // passed the sockets to (LISTEN_PID).
        let daemon = try Docketd.activated(
            extraSockets: ["readonly"], environment: ["WATCHDOG_USEC": "1000000"],
            wrapper: ["/usr/bin/strace", "-D", "-f", "-q", "-o", trace] + asUser(AccessTests.nobody, gid: AccessTests.nobody))
        // docketd starts at the first connection, and creates its database then.
        #expect(chown(daemon.folder.path, AccessTests.nobody, AccessTests.nobody) == 0)
        _ = try await Self.runCookbook(against: daemon.socketPath)
        let reader = try await daemon.connect(daemon.path(ofSocket: "readonly"))
        #expect(try await reader.send(["op": "enqueue", "queue": "q"])["error"]?["code"] == "forbidden")
        await reader.close()
        #expect(daemon.stop() == 0)
        // What setpriv did before it became docketd is none of the unit's business.
        let whole = try await Self.finishedTrace(at: trace, pid: daemon.child.pid)
        let text = try #require(whole.firstRange(of: "execve(\"\(Docketd.executable.path)\"").map { whole[$0.lowerBound...] })

        var used = Set<String>()
        var families = Set<String>()
        var writableCode: [Substring] = []
        for line in text.split(separator: "\n") {
            if let match = line.firstMatch(of: /^\d+ +(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)/) { used.insert(String(match.1)) }
            if let match = line.firstMatch(of: /socket\((\w+),/) { families.insert(String(match.1)) }
            if line.contains("PROT_EXEC"), line.contains("mprotect(") || line.contains("PROT_WRITE") { writableCode.append(line) }
        }
        #expect(used.contains("epoll_wait") && !used.contains("setresuid"), "not docketd's trace:\n\(text.prefix(2000))")
        #expect(used.subtracting(allowed).isEmpty, "system calls SystemCallFilter= would refuse: \(used.subtracting(allowed).sorted())")
        #expect(families == ["AF_UNIX"])
        #expect(writableCode.isEmpty, "\(writableCode)")
    }

    /// The system calls in `groups` (`@system-service`, `@privileged`, a single name), as
    /// systemd-analyze resolves them.
    static func syscalls(in groups: [String]) async throws -> Set<String> {
        var names = Set<String>()
        for group in groups {
            guard group.hasPrefix("@") else {
                names.insert(group)
                continue
            }
            let listing = try await run(["/usr/bin/systemd-analyze", "syscall-filter", group])
            let members = listing.output.split(separator: "\n").dropFirst().map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && !$0.hasPrefix("#") }
            names.formUnion(try await syscalls(in: members))
        }
        return names
    }

    /// strace's output once its tracer, which outlives docketd by a moment, has written the end.
    static func finishedTrace(at path: String, pid: pid_t) async throws -> String {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            if text.split(separator: "\n").contains(where: { $0.hasPrefix("\(pid) ") && $0.contains("+++ exited with ") }) {
                return text
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("strace did not finish \(path)")
    }
}
