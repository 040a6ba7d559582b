import Foundation

/// Polls `condition` every 20 ms until it holds; throws after `timeout`.
func eventually(
    _ what: String, timeout: Duration = .seconds(10), _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw TestFailure("timed out waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(20))
    }
}

/// Whether a process has ended: no such process, or a zombie nobody has reaped yet.
func isGone(_ pid: pid_t) -> Bool {
    guard kill(pid, 0) == 0 else { return true }
    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    // The state follows the command name, which is in parentheses.
    return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
}
