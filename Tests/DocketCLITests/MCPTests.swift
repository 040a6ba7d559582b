import DocketProtocol
import DocketTestSupport
import Foundation
import Testing

/// `docket mcp` as an agent host runs it: JSON-RPC lines on its standard input and output.
final class MCPSession: @unchecked Sendable {
    let process = SpawnedProcess()
    private let input = Pipe()
    private let output = Pipe()
    private var buffered: [UInt8] = []
    private var nextID = 1

    init(socketPath: String) throws {
        process.executableURL = TestDaemon.binaries.appendingPathComponent("docket")
        process.arguments = ["--socket", socketPath, "mcp"]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    deinit {
        try? input.fileHandleForWriting.close()
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// Sends a request and returns its `result` (or `error`) once its answer has come.
    func request(_ method: String, _ params: JSONValue = .object(JSONObject())) async throws -> JSONValue {
        let id = nextID
        nextID += 1
        try send(.object(JSONObject([("jsonrpc", "2.0"), ("id", .int(Int64(id))), ("method", .string(method)), ("params", params)])))
        while true {
            let message = try await readMessage()
            if message["id"] == .int(Int64(id)) { return message["result"] ?? message["error"] ?? .null }
        }
    }

    /// The handshake an agent host opens with; returns the server's answer to `initialize`.
    @discardableResult
    func initialize() async throws -> JSONValue {
        let result = try await request(
            "initialize",
            ["protocolVersion": "2025-06-18", "capabilities": .object(JSONObject()), "clientInfo": ["name": "test", "version": "1"]])
        try send(.object(JSONObject([("jsonrpc", "2.0"), ("method", "notifications/initialized")])))
        return result
    }

    /// A tool call's result: its text parsed as the protocol's JSON, and whether it was an error.
    func call(_ tool: String, _ arguments: JSONValue) async throws -> (answer: JSONValue, isError: Bool) {
        let result = try await request("tools/call", .object(JSONObject([("name", .string(tool)), ("arguments", arguments)])))
        let text = try #require(result["content"]?.array?.first?["text"]?.string, "no text in \(JSONWriter.text(of: result))")
        return (try JSONParser.parse(text), result["isError"] == true)
    }

    /// Sends a tool call without waiting for its answer, as a host may; returns its id.
    func start(_ tool: String, _ arguments: JSONValue) throws -> Int64 {
        let id = Int64(nextID)
        nextID += 1
        let params = JSONValue.object(JSONObject([("name", .string(tool)), ("arguments", arguments)]))
        try send(.object(JSONObject([("jsonrpc", "2.0"), ("id", .int(id)), ("method", "tools/call"), ("params", params)])))
        return id
    }

    /// The id of the next answer to come among calls started with `start`.
    func nextAnswer(of ids: Set<Int64>) async throws -> Int64 {
        while true {
            if let id = try await readMessage()["id"]?.int64, ids.contains(id) { return id }
        }
    }

    private func send(_ message: JSONValue) throws {
        try input.fileHandleForWriting.write(contentsOf: Array((JSONWriter.text(of: message) + "\n").utf8))
    }

    private func readMessage() async throws -> JSONValue {
        let handle = output.fileHandleForReading
        return try await offload { [self] in
            while true {
                if let newline = buffered.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = Array(buffered[..<newline])
                    buffered.removeSubrange(...newline)
                    return try JSONParser.parse(line)
                }
                let chunk = handle.availableData
                guard !chunk.isEmpty else { throw TestFailure("docket mcp closed its output") }
                buffered += chunk
            }
        }
    }
}

@Suite("docket mcp: Docket's ops as Model Context Protocol tools")
struct MCPTests {
    /// The handshake, the tool list, and a job's life through tool calls, a stale worker's
    /// `complete` answered as a tool error with the code and the job's present.
    @Test func agentLifeCycle_throughToolCalls() async throws {
        let daemon = try await TestDaemon.started()
        let mcp = try MCPSession(socketPath: daemon.socketPath)
        let initialized = try await mcp.initialize()
        #expect(initialized["serverInfo"]?["name"] == "docket" && initialized["capabilities"]?["tools"] != nil)

        let tools = try #require(try await mcp.request("tools/list")["tools"]?.array)
        let names = Set(tools.compactMap { $0["name"]?.string })
        #expect(
            names == [
                "enqueue", "claim", "progress", "complete", "fail", "snooze", "log", "cancel", "retry", "get", "logs", "list",
                "stats", "wait",
            ])
        for tool in tools {
            #expect(tool["description"]?.string?.isEmpty == false && tool["inputSchema"]?["type"] == "object")
        }
        let complete = try #require(tools.first { $0["name"] == "complete" })
        #expect(complete["description"]?.string?.contains("stale_version") == true, "says what a version is for")

        let (enqueued, _) = try await mcp.call("enqueue", ["queue": "research", "payload": ["topic": "queues"]])
        #expect(enqueued["ok"] == true && enqueued["job"]?["version"] == 1)
        let id = try #require(enqueued["job"]?["id"]?.int64)
        let (claimed, _) = try await mcp.call("claim", ["queue": "research", "worker": "llm"])
        let lease = try #require(claimed["job"]?["lease_expires_at"]?.string.flatMap(Timestamp.parse))
        let updated = try #require(claimed["job"]?["updated_at"]?.string.flatMap(Timestamp.parse))
        #expect(lease - updated == 600_000, "an LLM turn's lease by default")
        let (progressed, _) = try await mcp.call(
            "progress", ["job": .int(id), "version": 2, "progress": ["step": "reading"], "fields": ["state"]])
        #expect(progressed["job"] == ["id": .int(id), "state": "running", "version": 3])
        let (stale, isError) = try await mcp.call("complete", ["job": .int(id), "version": 2, "result": "done"])
        #expect(isError && stale["error"]?["code"] == "stale_version" && stale["error"]?["job"]?["version"] == 3)
        let (completed, completedIsError) = try await mcp.call("complete", ["job": .int(id), "version": 3, "result": "done"])
        #expect(!completedIsError && completed["job"]?["state"] == "completed")
        let (waited, _) = try await mcp.call("wait", ["job": .int(id), "timeout_ms": 5000])
        #expect(waited["job"]?["result"] == "done")
        let (missing, missingIsError) = try await mcp.call("get", ["job": 999])
        #expect(missingIsError && missing["error"]?["code"] == "not_found")
        let (stats, _) = try await mcp.call("stats", .object(JSONObject()))
        #expect(stats["queues"]?["research"]?["completed"] == 1)
    }

    /// A pipeline enqueued in one call, a worker's log written and read back as text (whole, one
    /// stream, the newest bytes), a snooze, and their refusals as tool errors.
    @Test func graphSnoozeAndLogs_throughToolCalls() async throws {
        let daemon = try await TestDaemon.started()
        let mcp = try MCPSession(socketPath: daemon.socketPath)
        try await mcp.initialize()

        let (graph, _) = try await mcp.call(
            "enqueue",
            [
                "jobs": [
                    ["queue": "agents", "payload": ["task": "research"], "timeout_ms": 600_000, "concurrency_key": "repo"],
                    ["queue": "agents", "payload": ["task": "write"], "after_index": [0]],
                ], "fields": ["state", "timeout_ms", "concurrency_key", "waiting_for"],
            ])
        let items = graph["jobs"]?.array ?? []
        #expect(items.count == 2)
        #expect(
            items.first
                == ["id": 1, "state": "pending", "version": 1, "concurrency_key": "repo", "timeout_ms": 600_000, "waiting_for": []])
        #expect(items.last?["waiting_for"] == [1])
        let (after, _) = try await mcp.call(
            "enqueue",
            [
                "queue": "agents", "after": [2], "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "fields": ["traceparent", "after"],
            ])
        #expect(after["job"]?["after"] == [2] && after["job"]?["traceparent"]?.string?.hasPrefix("00-4bf9") == true)
        let (missing, missingIsError) = try await mcp.call("enqueue", ["queue": "agents", "after": [99]])
        #expect(missingIsError && missing["error"]?["code"] == "not_found")

        let (claimed, _) = try await mcp.call("claim", ["queue": "agents", "worker": "llm", "fields": ["attempt"]])
        #expect(claimed["job"] == ["id": 1, "version": 2, "attempt": 1])
        let (logged, _) = try await mcp.call("log", ["job": 1, "version": 2, "data": "thinking\n", "fields": ["state"]])
        #expect(logged["job"] == ["id": 1, "state": "running", "version": 2], "a log line changes no version")
        _ = try await mcp.call("log", ["job": 1, "version": 2, "data": "warning: é\n", "stream": "stderr"])

        let (log, _) = try await mcp.call("logs", ["job": 1])
        #expect(log["log"] == "thinking\nwarning: é\n" && log["omitted_bytes"] == 0 && log["log_dropped_bytes"] == 0)
        #expect(log["job"] == ["id": 1, "state": "running", "version": 2])
        let (stderr, _) = try await mcp.call("logs", ["job": 1, "stream": "stderr"])
        #expect(stderr["log"] == "warning: é\n")
        let (tail, _) = try await mcp.call("logs", ["job": 1, "max_bytes": 3])
        #expect(tail["log"] == "é\n" && tail["omitted_bytes"] == 18)
        let (cut, _) = try await mcp.call("logs", ["job": 1, "max_bytes": 2])
        #expect(cut["log"] == "\n" && cut["omitted_bytes"] == 20, "cut before a character, never inside é")
        let (history, _) = try await mcp.call("get", ["job": 1, "events": true, "logs": true, "fields": []])
        #expect(history["events"]?.array?.filter { $0["type"] == "log" }.count == 2)
        let (unknown, unknownIsError) = try await mcp.call("logs", ["job": 99])
        #expect(unknownIsError && unknown["error"]?["code"] == "not_found")

        let (snoozed, _) = try await mcp.call(
            "snooze", ["job": 1, "version": 2, "delay_ms": 60_000, "fields": ["state", "attempt"]])
        #expect(snoozed["job"] == ["id": 1, "state": "pending", "version": 3, "attempt": 0])
        let (again, againIsError) = try await mcp.call("snooze", ["job": 1, "version": 3, "delay_ms": 0])
        #expect(againIsError && again["error"]?["code"] == "invalid_state")
        let (nothing, _) = try await mcp.call("claim", ["queue": "agents"])
        #expect(nothing["job"] == .null, "the snoozed job waits out its delay; the others wait for it")
    }

    /// Ops that are no tools, each for a reason. An op added to protocol/schemas fails the test
    /// below until it is given a tool or a place here.
    static let notTools: Set<String> = [
        "hello", "ping",  // about the connection, which docket mcp holds
        "watch",  // a stream, not a call: the wait tool follows a job instead
        "schedule_put", "schedule_get", "schedule_delete", "schedule_list", "queue_put", "queue_get", "queue_list", "purge",
        "backup", "metrics",  // an operator's, through the docket command line
    ]

    /// Every op in protocol/schemas is a tool or in `notTools`, and each tool's input schema has
    /// exactly its op's request members (the daemon ignores one it does not know, so a misspelt
    /// argument would be dropped without a word), the same required ones, and for each member
    /// the protocol's type, enum and range.
    @Test func toolSchemas_mirrorTheProtocolSchemas() async throws {
        let daemon = try await TestDaemon.started()
        let mcp = try MCPSession(socketPath: daemon.socketPath)
        try await mcp.initialize()
        let tools = try #require(try await mcp.request("tools/list")["tools"]?.array)
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("protocol/schemas")
        func load(_ file: String) throws -> JSONValue {
            try JSONParser.parse(try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8))
        }
        let defs = try load("defs.json")
        let ops = Set(
            try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".request.json") }
                .map { String($0.dropLast(".request.json".count)) })
        let toolNames = Set(tools.compactMap { $0["name"]?.string })
        #expect(ops.subtracting(Self.notTools).subtracting(toolNames).isEmpty, "ops with no tool, nor a reason in notTools")
        #expect(Self.notTools.isSubset(of: ops) && Self.notTools.isDisjoint(with: toolNames))

        for tool in tools {
            guard let name = tool["name"]?.string, ops.contains(name) else { continue }  // wait, logs: they read with get
            let schema = try load("\(name).request.json")
            // The forms a request may take: enqueue keeps its single job in $defs and its jobs under then.
            let parts = [schema, schema["then"]] + (schema["$defs"]?.object?.members.map(\.value) ?? [])
            var members = JSONObject()
            var required = Set<String>()
            for part in parts {
                for member in part?["properties"]?.object?.members ?? [] { members[member.key] = member.value }
                required.formUnion(part?["required"]?.array?.compactMap(\.string) ?? [])
            }
            let input = try #require(tool["inputSchema"]?.object)
            let arguments = input["properties"]?.object ?? JSONObject()
            let expected = Set(members.keys).subtracting(["op", "id", "after_index"])  // after_index: an item's, in jobs
            #expect(Set(arguments.keys) == expected, "\(name): \(arguments.keys.sorted()) for \(expected.sorted())")
            // enqueue's queue is required of a single job only (jobs stands in for it).
            let requiredHere = name == "enqueue" ? [] : required.subtracting(["op"])
            #expect(Set(input["required"]?.array?.compactMap(\.string) ?? []) == requiredHere, "\(name)'s required")
            for argument in arguments.members {
                guard let member = members[argument.key] else { continue }
                let wanted = Self.resolved(member, in: schema, defs: defs)
                for key in ["type", "enum", "minimum", "maximum"] {
                    guard let value = wanted[key] else { continue }
                    #expect(argument.value[key] == value, "\(name).\(argument.key): \(key) should be \(JSONWriter.text(of: value))")
                }
            }
        }
    }

    /// A member's schema as a tool states it: references followed (into defs.json or the op's own
    /// $defs), and a null alternative dropped, since a tool leaves an argument out instead.
    static func resolved(_ member: JSONValue, in schema: JSONValue, defs: JSONValue) -> JSONObject {
        var result = JSONObject()
        var next: JSONValue? = member
        while let current = next?.object {
            next = nil
            for (key, value) in current.members where result[key] == nil && key != "$ref" && key != "anyOf" { result[key] = value }
            if let reference = current["$ref"]?.string, let name = reference.split(separator: "/").last {
                next = (reference.hasPrefix("defs.json") ? defs : schema)["$defs"]?[String(name)]
            } else if let choices = current["anyOf"]?.array?.filter({ $0 != ["type": "null"] }), choices.count == 1 {
                next = choices[0]
            }
        }
        if let types = result["type"]?.array { result["type"] = types.first { $0 != "null" } }  // ["array", "null"]
        return result
    }

    /// A claim that waits for a job holds back no other call: a `stats` sent while it waits
    /// is answered while it still waits, and the claim when a job comes.
    @Test func waitingClaim_holdsBackNoOtherCall() async throws {
        let daemon = try await TestDaemon.started()
        let mcp = try MCPSession(socketPath: daemon.socketPath)
        try await mcp.initialize()
        _ = try await mcp.call("stats", .object(JSONObject()))  // connected
        let claim = try mcp.start("claim", ["queue": "idle", "wait_ms": 60_000])
        let observer = daemon.client()
        try await eventually("the claim to wait") { try await observer.send(["op": "stats"], isRead: true)["waiting_claims"] == 1 }
        let stats = try mcp.start("stats", .object(JSONObject()))
        #expect(try await mcp.nextAnswer(of: [claim, stats]) == stats)
        _ = try await observer.send(["op": "enqueue", "queue": "idle"])
        #expect(try await mcp.nextAnswer(of: [claim]) == claim)
        await observer.close()
    }

    /// A change whose answer was lost (docketd killed while a claim waits) is a tool error with
    /// in_doubt, since it is not sent again; a read after the restart is answered.
    @Test func lostAnswerToAChange_isInDoubt() async throws {
        let daemon = try await TestDaemon.started()
        let mcp = try MCPSession(socketPath: daemon.socketPath)
        try await mcp.initialize()
        _ = try await mcp.call("stats", .object(JSONObject()))  // connected
        async let waiting = mcp.call("claim", ["queue": "idle", "wait_ms": 60_000])
        let observer = daemon.client()
        try await eventually("the claim to wait") { try await observer.send(["op": "stats"], isRead: true)["waiting_claims"] == 1 }
        await observer.close()
        kill(daemon.process.processIdentifier, SIGKILL)
        daemon.process.waitUntilExit()
        let (claim, isError) = try await waiting
        #expect(isError && claim["error"]?["code"] == "in_doubt", "\(JSONWriter.text(of: claim))")
        try await daemon.restart()
        let (stats, statsIsError) = try await mcp.call("stats", .object(JSONObject()))
        #expect(!statsIsError && stats["ok"] == true)
    }
}
