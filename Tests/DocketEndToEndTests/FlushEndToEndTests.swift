import DocketClient
import DocketProtocol
import DocketTestSupport
import Foundation
import Testing

@Suite("End to end: answers wait for the disk")
struct FlushEndToEndTests {
    /// The writer commits without waiting for the disk and the flusher makes the commit
    /// durable. Here strace's fault injection makes every fdatasync take four seconds. The answer
    /// to an enqueue waits for its flush. So does a `list` sent after the commit, whose reader
    /// already sees the job: it must not show a job that a power loss could still take back.
    /// Once everything is on disk, reads answer at once.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/strace"), "needs strace"))
    func answersAndReads_waitForTheFlush() async throws {
        let databaseFolder = try Daemon.makeFolder("flush-db")
        defer { try? FileManager.default.removeItem(at: databaseFolder) }
        // Made first without the delay: the migrations of a new database flush too.
        #expect(try await Daemon(databaseFolder: databaseFolder).stop() == 0)
        let daemon = try await Daemon(
            databaseFolder: databaseFolder,
            // --seccomp-bpf stops only the traced call: without it every system call of every
            // thread stops for strace, which slows the whole daemon on a loaded machine.
            prelude:
                "exec /usr/bin/strace --seccomp-bpf -D -f -q -o /dev/null -e trace=fdatasync -e inject=fdatasync:delay_enter=4000000 \"$0\" \"$@\""
        )
        let producer = try await daemon.connect()
        let reader = try await daemon.connect()
        // The first commit on an empty WAL also syncs the WAL's header, inside the commit.
        #expect(try await producer.send(["op": "enqueue", "queue": "first", "payload": "p"])["ok"] == true)

        let sent = ContinuousClock.now
        async let enqueued = producer.send(["op": "enqueue", "queue": "slow", "payload": "p"])
        try await Task.sleep(for: .milliseconds(500))  // committed by now; the flush has a while to go
        let listed = try await reader.send(["op": "list", "queue": "slow"])
        let listWaited = ContinuousClock.now - sent
        let answer = try await enqueued
        let enqueueWaited = ContinuousClock.now - sent

        #expect(answer["ok"] == true, "\(answer)")
        #expect(enqueueWaited >= .milliseconds(3900), "the enqueue was answered after \(enqueueWaited), before its flush")
        #expect(listWaited >= .milliseconds(3900), "the list was answered after \(listWaited), before the flush of what it saw")
        #expect(listed["jobs"]?.array?.count == 1, "\(listed)")

        let calm = ContinuousClock.now
        let again = try await reader.send(["op": "list", "queue": "slow"])
        #expect(again["jobs"]?.array?.count == 1)
        // Under 3 s: waiting for a flush would take the four seconds each flush is held for.
        // The margin is for plain `swift test`, which runs the synchronous store tests in
        // this process too: they can hold every thread of the cooperative pool for a while
        // (1.8 s for this read in one full run).
        #expect(ContinuousClock.now - calm < .milliseconds(3000), "a read with nothing left to flush waited")
        await producer.close()
        await reader.close()
        #expect(daemon.stop() == 0)
    }

    /// A quick flush costs the writer less than handing it over, so the writer settles its
    /// batches itself while flushes are quick (and whenever nothing waits); a slow one is worth
    /// overlapping with the next batch, so it goes to the flusher thread. Here every fdatasync
    /// is held for 3 ms while a client sends a bulk enqueue of 100 jobs every 2 ms, for 0.3 s,
    /// without waiting for the answers: what arrives during a flush takes the writer longer
    /// than that, so requests are waiting when such a batch is done, and the flusher thread
    /// must make flushes. Every answer must still come, in order. (Clients that each wait for
    /// their answer fall into step with the flushes, and then nothing waits when a batch is
    /// done; so do small requests on a loaded machine, where a held flush lasts long enough for
    /// all of them to arrive. That a quick disk's flushes stay with the writer is not asserted:
    /// how quick the disk under the tests is, is not known.)
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/strace"), "needs strace"))
    func slowFlushes_goToTheFlusherThread() async throws {
        let databaseFolder = try Daemon.makeFolder("slow-flush-db")
        defer { try? FileManager.default.removeItem(at: databaseFolder) }
        #expect(try await Daemon(databaseFolder: databaseFolder).stop() == 0)
        let trace = databaseFolder.appendingPathComponent("fdatasync.trace").path
        let daemon = try await Daemon(
            databaseFolder: databaseFolder,
            prelude:
                "exec /usr/bin/strace --seccomp-bpf -D -f -q -o \(trace) -e trace=fdatasync -e inject=fdatasync:delay_enter=3000 \"$0\" \"$@\""
        )
        let stream = try RawSocket(path: daemon.socketPath)
        let requests = 150
        let jobs = Array(repeating: #"{"queue":"slow-disk","payload":0}"#, count: 100).joined(separator: ",")
        try await stream.send(
            lines: (0..<requests).map { #"{"op":"enqueue","id":\#($0),"jobs":[\#(jobs)],"fields":[]}"# },
            gapMicroseconds: 2000)
        var answered: [Int] = []
        for _ in 0..<requests {
            let answer = try await stream.readJSON()
            #expect((answer["jobs"] as? [Any])?.count == 100)
            answered.append(answer["id"] as? Int ?? -1)
        }
        #expect(answered == Array(0..<requests))
        let names = daemon.threadNames()
        #expect(daemon.stop() == 0)

        var flushesByThread: [String: Int] = [:]
        for line in try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n") where line.contains("fdatasync(") {
            guard let tid = line.split(separator: " ").first.flatMap({ Int32($0) }) else { continue }
            flushesByThread[names[tid] ?? "gone", default: 0] += 1
        }
        // The writer still flushes the batches after which nothing was waiting (the first,
        // at least). Settling every batch in the writer leaves the flusher none.
        #expect((flushesByThread["docket-flusher"] ?? 0) > 0, "fdatasync calls by thread: \(flushesByThread)")
    }
}
