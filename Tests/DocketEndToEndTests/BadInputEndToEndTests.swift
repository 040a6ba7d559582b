import DocketClient
import DocketProtocol
import DocketTestSupport
import Foundation
import Testing

@Suite("End to end: bad input and refusals to start")
struct BadInputEndToEndTests {
    /// Every kind of bad line gets the contract's code on an open connection, and the
    /// daemon goes on serving it.
    @Test(arguments: Backend.available) func badLines_getErrorCodesAndTheConnectionStays(_ backend: Backend) async throws {
        let daemon = try await Daemon(backend)
        let socket = try RawSocket(path: daemon.socketPath)
        let cases: [(bytes: [UInt8], code: String)] = [
            (Array("{not json".utf8), "bad_request"),
            ([0x7B, 0x22, 0x6F, 0x70, 0x22, 0x3A, 0x22, 0xC3, 0x28, 0x22, 0x7D], "bad_request"),  // invalid UTF-8
            (Array("[1,2,3]".utf8), "bad_request"),
            (Array("\"ping\"".utf8), "bad_request"),
            (Array(#"{"id":1}"#.utf8), "bad_request"),
            (Array(#"{"op":42}"#.utf8), "bad_request"),
            (Array(#"{"op":"frobnicate"}"#.utf8), "unknown_op"),
            (Array(#"{"op":"enqueue","queue":7}"#.utf8), "bad_request"),
            (Array(#"{"op":"enqueue","queue":""}"#.utf8), "bad_request"),
            (Array(#"{"op":"enqueue","queue":"q","priority":"high"}"#.utf8), "bad_request"),
            (Array(#"{"op":"enqueue","queue":"q","priority":99999999999}"#.utf8), "bad_request"),
            (Array(#"{"op":"enqueue","queue":"q","max_attempts":0}"#.utf8), "bad_request"),
            (Array(#"{"op":"enqueue","queue":"q","delay_ms":1.5}"#.utf8), "bad_request"),
            (Array(#"{"op":"enqueue","queue":"q","delay_ms":-1}"#.utf8), "bad_request"),
            (Array(#"{"op":"enqueue","queue":"q","run_at":"tomorrow"}"#.utf8), "bad_request"),
            (Array(#"{"op":"claim","queue":"q","lease_ms":0}"#.utf8), "bad_request"),
            (Array(#"{"op":"claim","queue":"q","wait_ms":99999999999}"#.utf8), "bad_request"),
            (Array(#"{"op":"complete","job":1}"#.utf8), "bad_request"),
            (Array(#"{"op":"complete","version":1}"#.utf8), "bad_request"),
            (Array(#"{"op":"complete","job":"one","version":1}"#.utf8), "bad_request"),
            (Array(#"{"op":"complete","job":1,"version":1e400}"#.utf8), "bad_request"),
            (Array(#"{"op":"list","limit":100000}"#.utf8), "bad_request"),
            (Array(#"{"op":"list","state":"sleeping"}"#.utf8), "bad_request"),
            (Array(#"{"op":"ping","id":{"nested":true}}"#.utf8), "bad_request"),
            (Array(repeating: UInt8(ascii: "["), count: 100_000), "bad_request"),
            (Array(("{\"op\":\"enqueue\",\"queue\":\"q\",\"payload\":" + String(repeating: "[", count: 70) + String(repeating: "]", count: 70) + "}").utf8), "bad_request"),
        ]
        for (bytes, code) in cases {
            try await socket.send(bytes + [UInt8(ascii: "\n")])
            let answer = try await socket.readJSON()
            #expect(answer["ok"] as? Bool == false)
            let error = answer["error"] as? [String: Any]
            #expect(error?["code"] as? String == code, "for \(String(decoding: bytes.prefix(80), as: UTF8.self)): \(answer)")
            #expect((error?["message"] as? String)?.isEmpty == false)
        }
        try await socket.send("{\"op\":\"ping\",\"id\":\"still here\"}\n")
        #expect(try await socket.readJSON()["id"] as? String == "still here")
        // Nothing was half-applied: no job exists.
        try await socket.send("{\"op\":\"list\"}\n")
        #expect((try await socket.readJSON()["jobs"] as? [Any])?.isEmpty == true)
    }

    /// A line over the limit gets `too_large` and closes that connection only; what came
    /// before it stays applied and other clients are served.
    @Test(arguments: Backend.available) func tooLargeLine_closesOnlyThatConnection(_ backend: Backend) async throws {
        let daemon = try await Daemon(backend, arguments: ["--max-line-bytes", "4096"])
        let bystander = try RawSocket(path: daemon.socketPath)
        let socket = try RawSocket(path: daemon.socketPath)
        try await socket.send("{\"op\":\"enqueue\",\"queue\":\"before\"}\n")
        #expect(try await socket.readJSON()["ok"] as? Bool == true)
        let huge = "{\"op\":\"enqueue\",\"queue\":\"q\",\"payload\":\"" + String(repeating: "x", count: 10_000) + "\"}\n"
        try? await socket.send(huge)
        let answer = try await socket.readJSON()
        #expect((answer["error"] as? [String: Any])?["code"] as? String == "too_large")
        #expect(try await socket.readLine() == nil, "the connection is closed after too_large")
        try await bystander.send("{\"op\":\"list\"}\n")
        let jobs = try await bystander.readJSON()["jobs"] as? [[String: Any]]
        #expect(jobs?.map { $0["queue"] as? String } == ["before"])
    }

    /// A second docketd on the same database refuses to start, and the first keeps serving.
    @Test func secondDaemon_onTheSameDatabase_refusesToStart() async throws {
        let daemon = try await Daemon()
        let other = daemon.folder.appendingPathComponent("other.sock").path
        let result = try Daemon.runToExit(["--socket", other, "--db", daemon.databasePath])
        #expect(result.status != 0)
        #expect(result.output.contains("another docketd"))
        try await daemon.waitUntilServing()
    }

    /// A second docketd on the same socket refuses to start instead of stealing the path.
    @Test func secondDaemon_onTheSameSocket_refusesToStart() async throws {
        let daemon = try await Daemon()
        let result = try Daemon.runToExit(["--socket", daemon.socketPath, "--db", daemon.folder.appendingPathComponent("b.db").path])
        #expect(result.status != 0)
        #expect(result.output.contains("another docketd"))
        try await daemon.waitUntilServing()
    }

    /// A database path that cannot be written, or a file that is not a Docket database, is
    /// refused at start with a clear message.
    @Test func unusableDatabase_refusesToStart() throws {
        let folder = try Daemon.makeFolder("bad")
        defer { try? FileManager.default.removeItem(at: folder) }
        let socket = folder.appendingPathComponent("d.sock").path
        let notADatabase = folder.appendingPathComponent("notes.txt").path
        try Data(String(repeating: "hello ", count: 2000).utf8).write(to: URL(fileURLWithPath: notADatabase))
        let foreign = folder.appendingPathComponent("other.db").path
        try Shell.run("sqlite3 \(foreign) 'CREATE TABLE t(x)'")
        let cases: [(db: String, says: String)] = [
            (notADatabase, "not a SQLite database"),
            (foreign, "another application"),
            ("/proc/docket/d.db", "cannot"),
        ]
        for (db, says) in cases {
            let result = try Daemon.runToExit(["--socket", socket, "--db", db])
            #expect(result.status != 0)
            #expect(result.output.contains(says), "\(db): \(result.output)")
        }
    }
}
