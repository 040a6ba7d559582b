import DocketClient
import DocketProtocol
import DocketTestSupport
import Foundation
import Testing

@Suite("End to end: watch")
struct WatchEndToEndTests {
    /// Reads lines until `count` event lines of `queue` have arrived; returns their seqs.
    func readEvents(_ socket: RawSocket, count: Int, type: String = "enqueued") async throws -> [Int] {
        var seqs: [Int] = []
        while seqs.count < count {
            let line = try await socket.readJSON()
            guard let event = line["event"] as? [String: Any] else { continue }
            if event["type"] as? String == type { seqs.append(event["seq"] as! Int) }
        }
        return seqs
    }

    /// A watch with `since` replays what was stored and then goes live, with no gap and no
    /// duplicate, while a writer keeps enqueueing the whole time.
    @Test(arguments: Backend.available) func replayThenLive_noGapNoDuplicate(_ backend: Backend) async throws {
        let daemon = try await Daemon(backend)
        let total = 1500
        let writer = Task {
            let client = try await daemon.connect()
            for index in 0..<total { _ = try await client.job(["op": "enqueue", "queue": "w", "payload": .int(index)]) }
        }
        let noise = Task {
            let client = try await daemon.connect()
            for _ in 0..<300 { _ = try await client.job(["op": "enqueue", "queue": "other"]) }
        }
        let probe = try await daemon.connect()
        while try await probe.send(["op": "stats"])["queues"]?["w"]?["pending"]?.int ?? 0 < 300 {
            try await Task.sleep(for: .milliseconds(5))
        }
        let socket = try RawSocket(path: daemon.socketPath)
        try await socket.send("{\"op\":\"watch\",\"queue\":\"w\",\"since\":0,\"id\":\"w\"}\n")
        let answer = try await socket.readJSON()
        #expect(answer["ok"] as? Bool == true && answer["id"] as? String == "w" && answer["seq"] is Int)
        let seqs = try await readEvents(socket, count: total)
        try await writer.value
        try await noise.value
        #expect(seqs == seqs.sorted(), "in order")
        #expect(Set(seqs).count == total, "no duplicate")
        let stored = try await probe.send(["op": "list", "queue": "w", "limit": 1000])
        #expect(stored["jobs"]?.array?.count == 1000)
        await probe.close()
    }

    /// A watch without `since` starts at the present: only later events arrive.
    @Test(arguments: Backend.available) func watchWithoutSince_startsNow(_ backend: Backend) async throws {
        let daemon = try await Daemon(backend)
        let client = try await daemon.connect()
        _ = try await client.job(["op": "enqueue", "queue": "q"])
        let socket = try RawSocket(path: daemon.socketPath)
        try await socket.send("{\"op\":\"watch\"}\n")
        let latest = try await socket.readJSON()["seq"] as? Int
        #expect(latest == 1)
        let job = try await client.job(["op": "enqueue", "queue": "q", "payload": "second"])
        let line = try await socket.readJSON()
        let event = try #require(line["event"] as? [String: Any])
        #expect(line["ok"] == nil, "event lines carry no ok member")
        #expect(event["seq"] as? Int == 2 && event["type"] as? String == "enqueued")
        #expect(event["job"] as? Int == Int(job["id"]!.int!))
        await client.close()
    }

    /// One watch per connection, however the requests arrive: a second watch sent in the
    /// same write as the first, both behind a change still in flight, is refused.
    @Test(arguments: Backend.available) func secondWatch_isRefused_evenPipelined(_ backend: Backend) async throws {
        let daemon = try await Daemon(backend)
        let socket = try RawSocket(path: daemon.socketPath)
        try await socket.send(
            "{\"op\":\"enqueue\",\"queue\":\"q\",\"id\":1}\n{\"op\":\"watch\",\"since\":0,\"id\":2}\n{\"op\":\"watch\",\"id\":3}\n")
        var answers: [Int: [String: Any]] = [:]
        while answers.count < 3 {
            let line = try await socket.readJSON()
            if let id = line["id"] as? Int { answers[id] = line }
        }
        #expect(answers[1]?["ok"] as? Bool == true && answers[2]?["ok"] as? Bool == true)
        #expect(answers[3]?["ok"] as? Bool == false)
        #expect((answers[3]?["error"] as? [String: Any])?["code"] as? String == "bad_request")
    }

    /// Watching one job streams its changes and ends with the event that makes it final.
    @Test(arguments: Backend.available) func jobWatch_endsAtTheFinalEvent(_ backend: Backend) async throws {
        let daemon = try await Daemon(backend)
        let client = try await daemon.connect()
        let id = try #require(try await client.job(["op": "enqueue", "queue": "q"])["id"]?.int)
        let socket = try RawSocket(path: daemon.socketPath)
        try await socket.send("{\"op\":\"watch\",\"job\":\(id),\"since\":0}\n")
        #expect(try await socket.readJSON()["ok"] as? Bool == true)
        _ = try await client.job(["op": "claim", "queue": "q"])
        _ = try await client.job(["op": "complete", "job": .int(id), "version": 2])
        var types: [String] = []
        for _ in 0..<3 { types.append(((try await socket.readJSON())["event"] as? [String: Any])?["type"] as? String ?? "?") }
        #expect(types == ["enqueued", "claimed", "completed"])
        // The watch is over: a later change to another job sends nothing, and the connection
        // serves requests (and may watch again).
        _ = try await client.job(["op": "enqueue", "queue": "q"])
        try await socket.send("{\"op\":\"ping\",\"id\":\"after\"}\n")
        #expect(try await socket.readJSON()["id"] as? String == "after")
        await client.close()
    }

    /// A watcher that stops reading is cut off with a final `watch_overflow` line carrying the
    /// seq to resume from, and a new watch from that seq continues with no gap.
    @Test(arguments: Backend.available) func slowWatcher_isCutOffAndResumes(_ backend: Backend) async throws {
        let daemon = try await Daemon(backend)
        let slow = try RawSocket(path: daemon.socketPath)
        try await slow.send("{\"op\":\"watch\",\"queue\":\"flood\"}\n")
        #expect(try await slow.readJSON()["ok"] as? Bool == true)
        // Far more events than the watch may buffer, 500 jobs a request.
        let total = 30_000
        let producer = try RawSocket(path: daemon.socketPath)
        let batch = "{\"op\":\"enqueue\",\"fields\":[],\"jobs\":["
            + Array(repeating: "{\"queue\":\"flood\"}", count: 500).joined(separator: ",") + "]}\n"
        for _ in 0..<(total / 500) {
            try await producer.send(batch)
            _ = try await producer.readLine()
        }
        var seqs: [Int] = []
        var resume: Int?
        while let line = try await slow.readLine() {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            if let event = object["event"] as? [String: Any] {
                seqs.append(event["seq"] as! Int)
            } else if let error = object["error"] as? [String: Any] {
                #expect(error["code"] as? String == "watch_overflow")
                resume = error["seq"] as? Int
            }
        }
        let cut = try #require(resume, "the slow watcher was not cut off")
        #expect(seqs.last == cut, "the error names the last event delivered")
        #expect(seqs.count < total)
        let again = try RawSocket(path: daemon.socketPath)
        try await again.send("{\"op\":\"watch\",\"queue\":\"flood\",\"since\":\(cut)}\n")
        #expect(try await again.readJSON()["ok"] as? Bool == true)
        let rest = try await readEvents(again, count: total - seqs.count)
        let all = seqs + rest
        #expect(all == Array(1...total), "every event exactly once across the resume")
    }
}

@Suite("End to end: following a job from the shell")
struct ShellWatchEndToEndTests {
    /// `echo '{"op":"watch","job":N,"since":0}' | socat - UNIX-CONNECT:…` prints the job's
    /// history, keeps following it although socat half-closes at once, and ends when the job
    /// is final.
    @Test(arguments: Backend.available) func socatWatch_followsAJobToItsEnd(_ backend: Backend) async throws {
        let daemon = try await Daemon(backend)
        let client = try await daemon.connect()
        let id = try #require(try await client.job(["op": "enqueue", "queue": "shell"])["id"]?.int)
        let watcher = SpawnedProcess()
        watcher.executableURL = URL(fileURLWithPath: "/bin/sh")
        watcher.arguments = ["-c", "echo '{\"op\":\"watch\",\"job\":\(id),\"since\":0}' | socat -t 30 - UNIX-CONNECT:\(daemon.socketPath)"]
        let output = Pipe()
        watcher.standardOutput = output
        try watcher.run()
        _ = try await client.job(["op": "claim", "queue": "shell"])
        _ = try await client.job(["op": "progress", "job": .int(id), "version": 2, "progress": 50])
        _ = try await client.job(["op": "complete", "job": .int(id), "version": 3])
        let text = PipeIO.readToEnd(output.fileHandleForReading)
        watcher.waitUntilExit()
        let types = text.split(separator: "\n").compactMap { line in
            (try? JSONParser.parse(String(line)))?["event"]?["type"]?.string
        }
        #expect(types == ["enqueued", "claimed", "progress", "completed"], "\(text)")
        await client.close()
    }
}
