import DocketClient
import DocketProtocol
import DocketTestSupport
import Foundation
import Testing

@Suite("End to end: resource faults", .serialized)
struct ResourceFaultEndToEndTests {
    /// Out of file descriptors, new clients wait instead of being served, the log says why,
    /// connected clients are served as before, and once descriptors free up new clients are
    /// served again.
    @Test func descriptorExhaustion_recoversWhenConnectionsClose() async throws {
        let daemon = try await Daemon(prelude: "ulimit -n 48")
        var sockets: [RawSocket] = []
        var refused = false
        for index in 0..<100 {
            let socket = try RawSocket(path: daemon.socketPath, timeoutSeconds: 1)
            try await socket.send("{\"op\":\"ping\",\"id\":\(index)}\n")
            guard (try? await socket.readJSON()) != nil else {
                refused = true
                break
            }
            sockets.append(socket)
        }
        #expect(refused, "the descriptor limit was reached")
        let first = try #require(sockets.first)
        try await first.send("{\"op\":\"enqueue\",\"queue\":\"fd\"}\n")
        #expect(try await first.readJSON()["ok"] as? Bool == true, "connected clients are still served")
        try await first.send("{\"op\":\"stats\"}\n")
        #expect(try await first.readJSON()["ok"] as? Bool == true, "reads too")
        #expect(daemon.log.contains("out of file descriptors"))
        sockets.removeLast(20)
        try await Task.sleep(for: .milliseconds(500))
        let late = try RawSocket(path: daemon.socketPath, timeoutSeconds: 10)
        try await late.send("{\"op\":\"list\",\"queue\":\"fd\"}\n")
        #expect((try await late.readJSON()["jobs"] as? [Any])?.count == 1)
    }

    /// A full disk fails the requests that cannot be stored with `internal`, names the cause
    /// in the answer and the log, loses no acknowledged job, and the daemon carries on by
    /// itself once there is room again.
    @Test(.enabled(if: getuid() == 0, "mounts a tmpfs of its own, which needs root"))
    func diskFull_failsCleanlyAndRecovers() async throws {
        let folder = try Daemon.makeFolder("full")
        try Shell.run("mount -t tmpfs -o size=2m tmpfs \(folder.path)")
        defer { _ = try? Shell.run("umount -l \(folder.path)") }
        let daemon = try await Daemon(folder: folder)
        let client = try await daemon.connect()
        var acknowledged: [Int64] = []
        var failure: JSONValue?
        let payload = JSONValue.string(String(repeating: "x", count: 20_000))
        for _ in 0..<1000 {
            let answer = try await client.send(["op": "enqueue", "queue": "full", "payload": payload])
            if let id = answer["job"]?["id"]?.int {
                acknowledged.append(id)
            } else {
                failure = answer
                break
            }
        }
        let error = try #require(failure, "the disk never filled")
        #expect(error.errorCode == "internal")
        #expect(error["error"]?["message"]?.string?.contains("full") == true, "\(error)")
        #expect(daemon.log.contains("a transaction failed"))
        try Shell.run("mount -o remount,size=64m \(folder.path)")
        let after = try await client.send(["op": "enqueue", "queue": "full", "payload": payload])
        #expect(after["ok"] == true, "the daemon recovers once there is room")
        var stored = Set<Int64>()
        var cursor: Int64 = 0
        while true {
            let page = try await client.send(["op": "list", "queue": "full", "limit": 1000, "after": .int(cursor)])
            for job in page["jobs"]?.array ?? [] { stored.insert(job["id"]!.int!) }
            guard let next = page["next"]?.int else { break }
            cursor = next
        }
        #expect(Set(acknowledged).isSubset(of: stored), "no acknowledged job was lost")
        await client.close()
        #expect(daemon.stop() == 0)
    }

    /// A socket file deleted or replaced by something else is bound again within seconds.
    @Test func deletedOrReplacedSocketFile_isBoundAgain() async throws {
        let daemon = try await Daemon()
        for damage in ["rm -f", "rm -f {} && touch"] {
            try Shell.run(damage.replacingOccurrences(of: "{}", with: daemon.socketPath) + " " + daemon.socketPath)
            var served = false
            for _ in 0..<100 where !served {
                try await Task.sleep(for: .milliseconds(100))
                if let connection = try? await daemon.connect() {
                    served = (try? await connection.send(["op": "ping"]))?["ok"] == true
                    await connection.close()
                }
            }
            #expect(served, "after `\(damage)` the socket is served again")
        }
        #expect(daemon.log.contains("binding it again"))
    }

    /// A database file this user may not write is refused at start with a clear message.
    @Test(.enabled(if: getuid() == 0, "runs docketd as another user, which needs root"))
    func readOnlyDatabase_isRefusedAtStart() async throws {
        let daemon = try await Daemon()
        #expect(daemon.stop() == 0)
        // The folder is writable by all, so the lock files can be made; the database is not.
        try Shell.run("chmod 1777 \(daemon.folder.path) && chmod 644 \(daemon.databasePath) && rm -f \(daemon.databasePath).lock")
        let result = try Shell.runAllowingFailure(
            "setpriv --reuid=65534 --regid=65534 --clear-groups \(Daemon.executable.path) --db \(daemon.databasePath) --socket /tmp/dk-ro-\(getpid()).sock 2>&1")
        #expect(result.status != 0)
        #expect(result.output.contains("read-only") || result.output.contains("readonly"), "\(result.output)")
    }
}

extension Shell {
    /// Runs a shell command and returns its status and combined output.
    static func runAllowingFailure(_ command: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try ProcessLauncher.run(process)
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }
}
