import Foundation

/// Runs a real tool the tests drive (curl, python3, tmux) to its end, off the cooperative pool.
public enum Tool {
    public struct Finished: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
    }

    /// Looks `name` up on `PATH`; nil when the machine lacks it.
    public static func path(_ name: String) -> String? {
        let folders = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        return folders.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs `command` (its first word looked up on `PATH`). Standard error goes to a file, so
    /// a chatty tool cannot fill a pipe nobody reads while standard output is being read.
    public static func run(_ command: [String], environment: [String: String]? = nil) async throws -> Finished {
        try await offload {
            guard let executable = command.first.flatMap({ $0.hasPrefix("/") ? $0 : path($0) }) else {
                throw ToolMissing(name: command.first ?? "")
            }
            let errors = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("tool-\(UUID().uuidString)")
            _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
            defer { try? FileManager.default.removeItem(at: errors) }
            let process = SpawnedProcess()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = Array(command.dropFirst())
            process.environment = environment
            process.startsWithDefaultSignals = true
            let output = Pipe()
            process.standardOutput = output
            process.standardError = try FileHandle(forWritingTo: errors)
            try process.run()
            let stdout = PipeIO.readToEnd(output.fileHandleForReading)
            process.waitUntilExit()
            let stderr = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
            return Finished(status: process.terminationStatus, stdout: stdout, stderr: stderr)
        }
    }
}

public struct ToolMissing: Error, CustomStringConvertible {
    public let name: String
    public var description: String { "\(name) is not installed; .ci/run installs it (apt-get install \(name))" }
}
