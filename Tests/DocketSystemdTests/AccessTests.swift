import DocketClient
import DocketProtocol
import Foundation
import Testing

/// Clients (and one docketd) run as other users through setpriv, with socat.
@Suite(
    "systemd: peer credentials, access control and the socket file",
    .enabled(if: geteuid() == 0, "only root can run processes as other users"))
struct AccessTests {
    static let nobody: UInt32 = 65534

    /// Sends `requests` on one connection as `uid`:`gid` and returns the answers and socat's pid.
    func send(
        _ requests: [String], to socket: String, uid: UInt32, gid: UInt32, groups: [UInt32] = []
    ) async throws -> (answers: [JSONValue], pid: Int32) {
        let finished = try await run(
            asUser(uid, gid: gid, groups: groups) + ["/usr/bin/socat", "-t", "10", "-", "UNIX-CONNECT:\(socket)"],
            input: requests.map { $0 + "\n" }.joined())
        guard finished.status == 0 else { throw TestFailure("socat as \(uid) failed: \(finished.errors)") }
        let answers = try finished.output.split(separator: "\n").map { try JSONParser.parse(String($0)) }
        return (answers, finished.pid)
    }

    @Test func disallowedUid_getsForbiddenAndIsDisconnected() async throws {
        let daemon = try await Docketd.standalone(arguments: ["--socket-mode", "0666", "--allow-uid", "4242"])
        let started = ContinuousClock.now
        let (answers, _) = try await send(
            [#"{"op":"ping"}"#, #"{"op":"enqueue","queue":"q"}"#], to: daemon.socketPath, uid: Self.nobody, gid: Self.nobody)
        #expect(answers.count == 1, "more than the refusal came back: \(answers)")
        #expect(answers.first?["error"]?["code"] == "forbidden")
        #expect(answers.first?["error"]?["message"]?.string?.contains("uid 65534") == true)
        // socat ended because docketd closed the connection, not at its own 10 s timeout.
        #expect(ContinuousClock.now - started < .seconds(8))
        #expect(daemon.log.contains("refused a connection"))

        let root = try await daemon.connect()
        let stats = try await root.send(["op": "stats"])
        #expect(stats["ok"] == true && stats["queues"] == [:], "the refused connection's enqueue was applied: \(stats)")
        await root.close()
    }

    /// An allowed user is admitted, and whatever it does is recorded as pid@uid: on its
    /// events, and as the worker of a claim that names none.
    @Test func allowedUid_recordedAsPidAtUid() async throws {
        let daemon = try await Docketd.standalone(arguments: ["--socket-mode", "0666", "--allow-uid", "\(Self.nobody)"])
        let (answers, pid) = try await send(
            [#"{"op":"enqueue","queue":"q"}"#, #"{"op":"claim","queue":"q"}"#, #"{"op":"get","job":1,"events":true}"#],
            to: daemon.socketPath, uid: Self.nobody, gid: Self.nobody)
        try #require(answers.count == 3, "\(answers)")
        let label = "\(pid)@\(Self.nobody)"
        #expect(answers[1]["job"]?["worker"] == .string(label))
        let peers = answers[2]["events"]?.array?.map { $0["peer"] }
        #expect(peers == [.string(label), .string(label)], "\(answers[2])")

        // The test itself, as root, always gets in; its claim names a worker, which wins.
        let root = try await daemon.connect()
        #expect(try await root.send(["op": "enqueue", "queue": "r"])["ok"] == true)
        let claimed = try await root.send(["op": "claim", "queue": "r", "worker": "agent-7"])
        #expect(claimed["job"]?["worker"] == "agent-7")
        let events = try await root.send(["op": "get", "job": 2, "events": true])["events"]?.array?.map { $0["peer"] }
        #expect(events == [.string("\(getpid())@0"), .string("\(getpid())@0")])
        await root.close()
    }

    /// `--allow-gid` admits by primary group and by supplementary group.
    @Test func allowedGid_primaryOrSupplementary() async throws {
        let daemon = try await Docketd.standalone(
            arguments: ["--socket-mode", "0666", "--allow-gid", "4343", "--allow-gid", "4344"])
        let ping = [#"{"op":"ping"}"#]
        let primary = try await send(ping, to: daemon.socketPath, uid: Self.nobody, gid: 4343).answers
        #expect(primary.first?["ok"] == true, "\(primary)")
        let supplementary = try await send(ping, to: daemon.socketPath, uid: Self.nobody, gid: Self.nobody, groups: [17, 4344])
            .answers
        #expect(supplementary.first?["ok"] == true, "\(supplementary)")
        let neither = try await send(ping, to: daemon.socketPath, uid: Self.nobody, gid: Self.nobody, groups: [4345]).answers
        #expect(neither.first?["error"]?["code"] == "forbidden", "\(neither)")
    }

    /// docketd's own user and root get in whatever the lists say.
    @Test func ownUidAndRoot_alwaysAllowed() async throws {
        let daemon = try await Docketd.standalone(
            arguments: ["--socket-mode", "0666", "--allow-uid", "4242"], uid: Self.nobody)
        let own = try await send([#"{"op":"ping"}"#], to: daemon.socketPath, uid: Self.nobody, gid: Self.nobody).answers
        #expect(own.first?["ok"] == true, "\(own)")
        let root = try await daemon.connect()
        #expect(try await root.send(["op": "ping"])["ok"] == true)
        await root.close()
        let other = try await send([#"{"op":"ping"}"#], to: daemon.socketPath, uid: 4241, gid: 4241).answers
        #expect(other.first?["error"]?["code"] == "forbidden", "\(other)")
    }

    /// Without socket activation docketd makes the socket's folder, and the socket gets mode
    /// 0660 and the group asked for.
    @Test func standaloneSocket_modeGroupAndFolder() async throws {
        let daemon = try await Docketd.standalone(arguments: ["--socket-group", "4343"], socket: "run/docket/d.sock")
        var info = stat()
        #expect(stat(daemon.socketPath, &info) == 0)
        #expect(info.st_mode & 0o7777 == 0o660 && info.st_mode & S_IFMT == S_IFSOCK)
        #expect(info.st_gid == 4343)
        // The mode keeps out whoever is neither the owner nor in the group.
        let outsider = try await run(
            asUser(Self.nobody, gid: Self.nobody) + ["/usr/bin/socat", "-t", "2", "-", "UNIX-CONNECT:\(daemon.socketPath)"],
            input: #"{"op":"ping"}"# + "\n")
        #expect(outsider.status != 0 && outsider.errors.contains("Permission denied"), "\(outsider)")
        let member = try await send([#"{"op":"ping"}"#], to: daemon.socketPath, uid: Self.nobody, gid: 4343).answers
        #expect(member.first?["ok"] == true, "\(member)")
        #expect(daemon.stop() == 0)
        #expect(!FileManager.default.fileExists(atPath: daemon.socketPath), "docketd left its own socket behind")
    }
}
