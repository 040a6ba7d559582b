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

    /// Runs every example of socat-cookbook.sh against a real docketd and checks each answer.
    @Test func socatCookbook_everyExampleWorks() async throws {
        let daemon = try await Docketd.standalone()
        var environment = ProcessInfo.processInfo.environment
        environment["DOCKET_SOCKET"] = daemon.socketPath
        environment["COOKBOOK_QUEUE"] = "cookbook"
        let finished = try await run(["/bin/sh", Self.contrib.appendingPathComponent("socat-cookbook.sh").path], environment: environment)
        #expect(finished.status == 0 && finished.errors.isEmpty, "\(finished.errors)")

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
}
