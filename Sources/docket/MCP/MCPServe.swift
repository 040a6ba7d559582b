import ArgumentParser
import DocketClient
import DocketProtocol
import Foundation
import MCP

/// `docket mcp`: a Model Context Protocol server on standard input and output, so an LLM agent
/// can enqueue, claim, report progress on, complete and fail jobs as tools.
struct MCPServe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Serve the Model Context Protocol on stdin/stdout: Docket's ops as tools for an LLM agent.",
        discussion: """
            An agent host starts it as {"command": "docket", "args": ["mcp"]}. Each tool call is one \
            request to docketd at --socket; answers are the protocol's JSON, and refusals are tool \
            errors that carry the error's code (stale_version, not_found, ...).
            """)

    @ParentCommand var docket: Docket

    func run() async throws {
        let tools = ToolCalls(client: docket.client(reconnect: .standard), socketPath: docket.socketPath)
        let server = Server(
            name: "docket", version: "0.1.0",
            instructions: """
                Docket is a job queue. Workers claim a job, do it, report progress, then complete or fail it, \
                always passing the job's version; a stale_version error means the job is no longer yours.
                """,
            capabilities: .init(tools: .init(listChanged: false)))
        await server.withMethodHandler(ListTools.self) { _ in
            ListTools.Result(
                tools: try MCPTools.all.map { tool in
                    Tool(name: tool.name, description: tool.description, inputSchema: try Value(json: tool.inputSchema))
                })
        }
        await server.withMethodHandler(CallTool.self) { call in
            await tools.call(call.name, arguments: call.arguments ?? [:])
        }
        try await server.start(transport: StdioTransport())
        await server.waitUntilCompleted()
    }
}

/// Turns tool calls into requests to docketd and its answers into tool results.
struct ToolCalls: Sendable {
    let client: DocketClient
    let socketPath: String

    func call(_ name: String, arguments: [String: Value]) async -> CallTool.Result {
        guard MCPTools.all.contains(where: { $0.name == name }) else {
            return Self.failure(ProtocolError(.unknownOp, "no tool named \(name)"))
        }
        var request = JSONObject()
        for (key, value) in arguments.sorted(by: { $0.key < $1.key }) {
            guard let json = try? value.json() else { return Self.failure(.badRequest("field '\(key)' is not a JSON value")) }
            request[key] = json
        }
        // wait and logs only read, through get.
        let isRead = ["get", "list", "stats", "wait", "logs"].contains(name)
        do {
            if name == "wait" { return try await wait(request) }
            if name == "logs" { return try await logs(request) }
            if name == "claim", request["lease_ms"] == nil { request["lease_ms"] = .int(MCPTools.defaultLeaseMs) }
            request["op"] = .string(name)
            // docketd answers one connection's requests in order, so a claim that waits for
            // a job would hold back the answers of calls made meanwhile: it gets a connection
            // of its own.
            guard name == "claim", (request["wait_ms"]?.int64 ?? 0) > 0 else {
                return Self.result(try await client.send(.object(request), isRead: isRead))
            }
            let waiting = DocketClient(socketPath: socketPath, reconnect: .standard)
            let answer: JSONValue
            do {
                answer = try await waiting.send(.object(request))
            } catch {
                await waiting.close()
                throw error
            }
            await waiting.close()
            return Self.result(answer)
        } catch DocketClientError.connectionClosed where !isRead {
            // A change is not sent twice, so the model must learn that it may have happened.
            return Self.failure(
                ProtocolError(
                    .inDoubt,
                    "the connection to docketd closed before it answered, so this \(name) may or may not have been applied; "
                        + "get the job before trying again (an enqueue with unique_key is safe to repeat)"))
        } catch {
            return Self.failure(
                ProtocolError(.unavailable, "cannot reach docketd at \(socketPath): \(error); is it running? (DOCKET_SOCKET)"))
        }
    }

    /// Follows the job until it is final or the timeout passes, then returns it as it is.
    private func wait(_ request: JSONObject) async throws -> CallTool.Result {
        guard let id = request["job"]?.int64 else { return Self.failure(.badRequest("field 'job' must be a job id")) }
        let timeout = Duration.milliseconds(min(request["timeout_ms"]?.int64 ?? 60_000, 600_000))
        let follow = Task { try await JobFollower(client: client).follow(id) { $0.state.isFinal } }
        let timer = Task {
            try await Task.sleep(for: timeout)
            follow.cancel()
        }
        _ = try? await follow.value
        timer.cancel()
        return Self.result(try await client.send(["op": "get", "job": .int(id)], isRead: true))
    }

    /// A job's log as text: `get` with its events and log lines, the `log` events' text joined
    /// in order (of one stream when asked), the newest `max_bytes` of it.
    private func logs(_ request: JSONObject) async throws -> CallTool.Result {
        guard let id = request["job"]?.int64 else { return Self.failure(.badRequest("field 'job' must be a job id")) }
        var stream: String?
        if let value = request["stream"], !value.isNull {
            guard let name = value.string, LogStream(rawValue: name) != nil else {
                return Self.failure(.badRequest("field 'stream' must be stdout or stderr"))
            }
            stream = name
        }
        var limit = MCPTools.defaultLogBytes
        if let value = request["max_bytes"], !value.isNull {
            guard let bytes = value.int64, (1...1_048_576).contains(bytes) else {
                return Self.failure(.badRequest("field 'max_bytes' must be between 1 and 1048576"))
            }
            limit = bytes
        }
        let answer = try await client.send(
            ["op": "get", "job": .int(id), "events": true, "logs": true, "fields": ["state"]], isRead: true)
        guard answer["ok"] == true else { return Self.result(answer) }
        var text: [UInt8] = []
        for event in answer["events"]?.array ?? [] where event["type"] == "log" {
            guard stream == nil || event["data"]?["stream"]?.string == stream, let line = event["data"]?["text"]?.string
            else { continue }
            text += Array(line.utf8)
        }
        var start = max(0, text.count - Int(limit))
        while start < text.count, text[start] & 0xC0 == 0x80 { start += 1 }  // not inside a character
        return Self.result(
            .object(
                JSONObject([
                    ("ok", true), ("job", answer["job"] ?? .null),
                    ("log", .string(String(decoding: text[start...], as: UTF8.self))),
                    ("log_dropped_bytes", answer["log_dropped_bytes"] ?? 0), ("omitted_bytes", .int(Int64(start))),
                ])))
    }

    /// An answer: the protocol's JSON, a tool error when it is a refusal.
    static func result(_ answer: JSONValue) -> CallTool.Result {
        CallTool.Result(
            content: [.text(text: JSONWriter.text(of: answer), annotations: nil, _meta: nil)], isError: answer["ok"] != true)
    }

    static func failure(_ error: ProtocolError) -> CallTool.Result {
        result(
            .object(
                JSONObject([
                    ("ok", false),
                    ("error", .object(JSONObject([("code", .string(error.code.rawValue)), ("message", .string(error.message))]))),
                ])))
    }
}

extension Value {
    /// The MCP value of a JSON value, through its text.
    init(json: JSONValue) throws {
        self = try JSONDecoder().decode(Value.self, from: Data(JSONWriter.text(of: json).utf8))
    }

    /// The JSON value of an MCP value, through its text.
    func json() throws -> JSONValue {
        try JSONParser.parse(String(decoding: try JSONEncoder().encode(self), as: UTF8.self))
    }
}
