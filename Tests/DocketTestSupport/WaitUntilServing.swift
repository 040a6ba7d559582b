import DocketClient
import Foundation

/// A docketd the tests started that did not come to serve.
public struct DaemonNotServing: Error, CustomStringConvertible {
    public let description: String
}

extension SpawnedProcess {
    /// Returns once the docketd this process runs answers a ping on `socketPath`; fails at
    /// once if it exits, with its `log`. A daemon answers within milliseconds of starting.
    /// The minute is for plain `swift test`, which runs the synchronous store and coordinator
    /// tests in this process too: they hold the cooperative pool's threads (two on a
    /// two-core machine) while they wait on their databases, and the continuations here
    /// queued behind them for over 20 s in one full run. (The README's command runs those
    /// tests in a process of their own.)
    public func waitUntilServing(socketPath: String, log: () -> String) async throws {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            guard isRunning else { throw DaemonNotServing(description: "docketd exited with \(terminationStatus):\n\(log())") }
            if let connection = try? await DocketConnection.connect(socketPath: socketPath) {
                let answer = try? await connection.send(["op": "ping"])
                await connection.close()
                if answer?["ok"] == true { return }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw DaemonNotServing(description: "docketd did not answer within 60 s:\n\(log())")
    }
}
