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
}
