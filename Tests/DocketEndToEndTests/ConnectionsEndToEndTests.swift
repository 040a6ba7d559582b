import DocketClient
import DocketProtocol
import DocketTestSupport
import Foundation
import Testing

@Suite("End to end: connections that misbehave")
struct ConnectionsEndToEndTests {
    /// Clients that vanish mid-request, half-close, or park a claim and leave do no harm:
    /// the daemon answers the next client and no job is swallowed by a gone waiter.
    @Test(arguments: Backend.available) func abruptAndHalfClosedClients_leaveTheDaemonHealthy(_ backend: Backend) async throws {
        let daemon = try await Daemon(backend)
        for _ in 0..<50 {
            let socket = try RawSocket(path: daemon.socketPath)
            try await socket.send("{\"op\":\"enqueue\",\"queue\":\"q\"")  // no newline, then gone
        }
        let half = try RawSocket(path: daemon.socketPath)
        try await half.send("{\"op\":\"ping\",\"id\":1}\n{\"op\":\"stats\",\"id\":2}\n")
        half.shutdownWrite()
        #expect(try await half.readJSON()["id"] as? Int == 1)
        #expect(try await half.readJSON()["id"] as? Int == 2)
        #expect(try await half.readLine() == nil, "closed after answering a half-closed client")

        do {
            let leaver = try RawSocket(path: daemon.socketPath)
            try await leaver.send("{\"op\":\"claim\",\"queue\":\"q\",\"wait_ms\":60000}\n")
            try await Task.sleep(for: .milliseconds(100))
        }
        try await Task.sleep(for: .milliseconds(100))
        let client = try await daemon.connect()
        let job = try await client.job(["op": "enqueue", "queue": "q"])
        let claimed = try await client.job(["op": "claim", "queue": "q"])
        #expect(claimed["id"] == job["id"], "the departed waiter did not swallow the job")
        await client.close()
    }

    /// Two thousand connections at once are all served, and the daemon stays healthy.
    @Test func thousandsOfConnections_areServed() async throws {
        let daemon = try await Daemon()
        var sockets: [RawSocket] = []
        for _ in 0..<2000 { sockets.append(try RawSocket(path: daemon.socketPath)) }
        for (index, socket) in sockets.enumerated() { try await socket.send("{\"op\":\"ping\",\"id\":\(index)}\n") }
        for (index, socket) in sockets.enumerated() { #expect(try await socket.readJSON()["id"] as? Int == index) }
        let client = try await daemon.connect()
        let stats = try await client.send(["op": "stats"])
        #expect(stats["connections"]?.int == 2001)
        sockets.removeAll()
        var remaining: JSONValue?
        for _ in 0..<200 {
            remaining = try await client.send(["op": "stats"])["connections"]
            if remaining == 1 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(remaining == 1, "every closed connection is let go")
        await client.close()
    }
}
