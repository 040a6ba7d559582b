import DocketClient
import DocketProtocol
import DocketTestSupport
import Foundation
import Testing

@Suite("End to end: backup, restore and --check")
struct MaintenanceEndToEndTests {
    /// `backup` copies the live database while it serves; a daemon started on the copy has
    /// every job that was acknowledged before the backup.
    @Test func backup_restoresEveryJob() async throws {
        let daemon = try await Daemon()
        let client = try await daemon.connect()
        for index in 0..<50 { _ = try await client.job(["op": "enqueue", "queue": "b", "payload": .int(index)]) }
        let copy = daemon.folder.appendingPathComponent("copy.db").path
        let answer = try await client.send(["op": "backup", "path": .string(copy)])
        #expect(answer["ok"] == true && answer["path"] == .string(copy) && (answer["bytes"]?.int ?? 0) > 0)
        let again = try await client.send(["op": "backup", "path": .string(copy)])
        #expect(again.errorCode == "bad_request" && again["error"]?["message"]?.string?.contains("File exists") == true,
                "a backup never overwrites a file")
        #expect(try await client.send(["op": "backup", "path": "relative.db"]).errorCode == "bad_request")
        await client.close()

        let restoredFolder = try Daemon.makeFolder("restore")
        try FileManager.default.copyItem(atPath: copy, toPath: restoredFolder.appendingPathComponent("d.db").path)
        let restored = try await Daemon(folder: restoredFolder)
        let reader = try await restored.connect()
        let stats = try await reader.send(["op": "stats"])
        #expect(stats["queues"]?["b"]?["pending"] == 50)
        await reader.close()
        let check = try Daemon.runToExit(["--check", "--db", copy])
        #expect(check.status == 0 && check.output.contains("integrity:      ok"))
    }

    /// `--check` reports a sound database with status 0 and a damaged one with status 1, and
    /// the daemon refuses to start on a file whose header is destroyed.
    @Test func check_detectsDamage() async throws {
        let daemon = try await Daemon()
        let client = try await daemon.connect()
        let jobs: [JSONValue] = (0..<1000).map { _ in ["queue": "c", "payload": .string(String(repeating: "x", count: 200))] }
        _ = try await client.send(["op": "enqueue", "jobs": .array(jobs)])
        await client.close()
        #expect(daemon.stop() == 0)
        let sound = try Daemon.runToExit(["--check", "--db", daemon.databasePath])
        #expect(sound.status == 0 && sound.output.contains("jobs:           1000"))

        // Scribble over a page in the middle of the file, as a failing disk would.
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: daemon.databasePath))
        let size = try handle.seekToEnd()
        try handle.seek(toOffset: size / 2 / 4096 * 4096)
        try handle.write(contentsOf: Data(repeating: 0xA5, count: 4096))
        try handle.close()
        let damaged = try Daemon.runToExit(["--check", "--db", daemon.databasePath])
        #expect(damaged.status == 1, "\(damaged.output)")
        #expect(damaged.output.contains("damaged") || damaged.output.contains("malformed"))

        let header = try FileHandle(forUpdating: URL(fileURLWithPath: daemon.databasePath))
        try header.write(contentsOf: Data(repeating: 0, count: 100))
        try header.close()
        let refused = try Daemon.runToExit(["--socket", daemon.socketPath, "--db", daemon.databasePath])
        #expect(refused.status != 0 && refused.output.contains("cannot open the database"))
    }
}
