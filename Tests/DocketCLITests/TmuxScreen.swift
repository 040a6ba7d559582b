import DocketTestSupport
import Foundation

/// A real terminal for the tests: a tmux server of the test's own, one 80 × 24 window, keys
/// sent with `send-keys` and the screen read with `capture-pane`.
final class TmuxScreen: Sendable {
    static let docket = TestDaemon.binaries.appendingPathComponent("docket").path

    /// The tmux server's socket name (`-L`), so parallel tests never share a server.
    let server: String
    let folder: URL

    private init(server: String, folder: URL) {
        self.server = server
        self.folder = folder
    }

    /// Starts `command` (through `sh -c`) in a new 80 × 24 window, with the daemon's socket and,
    /// unless `colour`, NO_COLOR in its environment (with `colour`, one the test run itself may
    /// carry is taken out).
    static func start(daemon: TestDaemon, command: String, colour: Bool = false) async throws -> TmuxScreen {
        let screen = TmuxScreen(server: "docket-\(getpid())-\(UUID().uuidString.prefix(8))", folder: daemon.folder)
        try await screen.tmux(
            ["new-session", "-d", "-s", "top", "-x", "80", "-y", "24", "-e", "DOCKET_SOCKET=\(daemon.socketPath)"]
                + (colour ? [] : ["-e", "NO_COLOR=1"]) + [colour ? "unset NO_COLOR; " + command : command])
        return screen
    }

    /// The screen, one string per row; with `styles`, the SGR sequences of colours and
    /// attributes too.
    func capture(styles: Bool = false) async throws -> [String] {
        let text = try await tmux(["capture-pane", "-p", "-t", "top"] + (styles ? ["-e"] : []))
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    /// Waits until the screen satisfies `condition` and returns it; throws with the last
    /// screen after 15 s.
    func waitFor(_ condition: ([String]) -> Bool) async throws -> [String] {
        let deadline = ContinuousClock.now + .seconds(15)
        var lines: [String] = []
        while ContinuousClock.now < deadline {
            lines = (try? await capture()) ?? []
            if !lines.isEmpty, condition(lines) { return lines }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("the screen never showed what was expected; it shows:\n" + lines.joined(separator: "\n"))
    }

    /// Presses keys by tmux's names (`Down`, `q`, `Enter`).
    func keys(_ names: String...) async throws {
        try await tmux(["send-keys", "-t", "top"] + names)
    }

    /// Types a line and presses Enter.
    func type(_ line: String) async throws {
        try await tmux(["send-keys", "-t", "top", "-l", line])
        try await keys("Enter")
    }

    /// The process the window's shell is running (the command typed at its prompt).
    func childOfShell() async throws -> pid_t {
        let shell = try await tmux(["display-message", "-p", "-t", "top", "#{pane_pid}"]).trimmingCharacters(in: .whitespacesAndNewlines)
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8) else { continue }
            // pid (comm) state ppid …: the name may hold spaces, so read after its last ')'.
            let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
            if fields.count > 1, String(fields[1]) == shell { return pid }
        }
        throw TestFailure("the shell \(shell) runs no command")
    }

    /// Waits until the window's command has ended, which ends the only window and the server.
    func waitUntilGone() async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            guard (try? await tmux(["has-session", "-t", "top"])) != nil else { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("the command in tmux did not end")
    }

    /// Ends the tmux server and whatever runs in it; waits, since it is called from `defer`
    /// at the end of a test and the test run may end right after.
    func kill() {
        let process = SpawnedProcess()
        process.executableURL = URL(fileURLWithPath: Tool.path("tmux") ?? "/usr/bin/tmux")
        process.arguments = ["-L", server, "kill-server"]
        process.startsWithDefaultSignals = true
        if (try? process.run()) != nil { process.waitUntilExit() }
        // A server whose last window closed by itself may leave its socket behind.
        let folder = ProcessInfo.processInfo.environment["TMUX_TMPDIR"] ?? "/tmp"
        try? FileManager.default.removeItem(atPath: "\(folder)/tmux-\(getuid())/\(server)")
    }

    @discardableResult
    private func tmux(_ arguments: [String]) async throws -> String {
        let run = try await Tool.run(["tmux", "-L", server] + arguments)
        guard run.status == 0 else { throw TestFailure("tmux \(arguments.joined(separator: " ")) failed: \(run.stderr)") }
        return run.stdout
    }
}

enum Eventually {
    /// The file's contents once it exists and is not empty; throws after 10 s.
    static func contents(of file: URL) async throws -> String {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let text = try? String(contentsOf: file, encoding: .utf8), !text.isEmpty { return text }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("\(file.path) was never written")
    }
}
