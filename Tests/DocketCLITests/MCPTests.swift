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

    func notify(_ method: String) throws {
        try send(.object(JSONObject([("jsonrpc", "2.0"), ("method", .string(method))])))
    }

    /// A tool call's result: its text parsed as the protocol's JSON, and whether it was an error.
    func call(_ tool: String, _ arguments: JSONValue) async throws -> (answer: JSONValue, isError: Bool) {
        let result = try await request("tools/call", .object(JSONObject([("name", .string(tool)), ("arguments", arguments)])))
        let text = try #require(result["content"]?.array?.first?["text"]?.string, "no text in \(JSONWriter.text(of: result))")
        return (try JSONParser.parse(text), result["isError"] == true)
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
        let initialized = try await mcp.request(
            "initialize",
            ["protocolVersion": "2025-06-18", "capabilities": .object(JSONObject()), "clientInfo": ["name": "test", "version": "1"]])
        #expect(initialized["serverInfo"]?["name"] == "docket" && initialized["capabilities"]?["tools"] != nil)
        try mcp.notify("notifications/initialized")

        let tools = try #require(try await mcp.request("tools/list")["tools"]?.array)
        let names = Set(tools.compactMap { $0["name"]?.string })
        #expect(
            names == [
                "enqueue", "claim", "progress", "complete", "fail", "snooze", "cancel", "retry", "get", "logs", "list", "stats",
                "wait",
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

    /// A pipeline enqueued in one call, a worker's log read back as text (whole, one stream, the
    /// newest bytes), a snooze, and their refusals as tool errors.
    @Test func graphSnoozeAndLogs_throughToolCalls() async throws {
        let daemon = try await TestDaemon.started()
        let mcp = try MCPSession(socketPath: daemon.socketPath)
        _ = try await mcp.request(
            "initialize",
            ["protocolVersion": "2025-06-18", "capabilities": .object(JSONObject()), "clientInfo": ["name": "test", "version": "1"]])
        try mcp.notify("notifications/initialized")

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
        try await daemon.client().log(job: 1, version: 2, text: "thinking\n")
        try await daemon.client().log(job: 1, version: 2, text: "warning: é\n", stream: .stderr)

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

    /// Every member of each op's request schema in protocol/schemas is in its tool's input
    /// schema, so an op gaining a field cannot leave the tools behind.
    @Test func toolSchemas_coverTheProtocolSchemas() async throws {
        let daemon = try await TestDaemon.started()
        let mcp = try MCPSession(socketPath: daemon.socketPath)
        _ = try await mcp.request(
            "initialize",
            ["protocolVersion": "2025-06-18", "capabilities": .object(JSONObject()), "clientInfo": ["name": "test", "version": "1"]])
        let tools = try #require(try await mcp.request("tools/list")["tools"]?.array)
        let schemas = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("protocol/schemas")
        for tool in tools {
            // wait and logs are not ops: they read with get.
            guard let name = tool["name"]?.string, !["wait", "logs"].contains(name) else { continue }
            let text = try String(contentsOf: schemas.appendingPathComponent("\(name).request.json"), encoding: .utf8)
            let schema = try JSONParser.parse(text)
            var protocolFields = Set(schema["properties"]?.object?.members.map(\.key) ?? [])
            // A form of the request kept in $defs (enqueue's single job: "else": {"$ref": "#/$defs/new_job"}).
            if let reference = schema["else"]?["$ref"]?.string, reference.hasPrefix("#/$defs/") {
                let definition = schema["$defs"]?[String(reference.dropFirst("#/$defs/".count))]
                protocolFields.formUnion(definition?["properties"]?.object?.members.map(\.key) ?? [])
            }
            protocolFields.subtract(["op", "id"])
            let toolFields = Set(tool["inputSchema"]?["properties"]?.object?.members.map(\.key) ?? [])
            #expect(protocolFields.isSubset(of: toolFields), "\(name) lacks \(protocolFields.subtracting(toolFields).sorted())")
        }
    }
}
