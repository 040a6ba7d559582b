import DocketProtocol
import DocketServer
@testable import DocketStore
import DocketTestSupport
import Logging
import Testing

/// On PostgreSQL a transaction runs while the one before it is still committing, on the
/// writer's other connection, and cannot see that one's jobs. These tests hold the earlier
/// commit back (another connection holds the event counter's row, which its commit needs),
/// so the later transaction is sure to run beside it.
@Suite("Coordinator: transactions that overlap a commit (PostgreSQL)")
struct OverlapTests {
    /// A claim that parks while the enqueue that stocks its queue is still committing is
    /// offered that job once the commit is through, without any other request.
    @Test(.enabled(if: Backend.available.contains(.postgresql))) func claimParkedBesideACommit_getsItsJobAfterIt() throws {
        let h = try CoordinatorHarness(.postgresql)
        let blocker = try holdEventCounter(of: h)
        let (enqueue, enqueued) = h.command(.enqueue(EnqueueRequest(queue: "q")))
        let first = h.coordinator.process([enqueue], now: h.now)
        let (claim, claimed) = h.command(.claim(ClaimRequest(queues: ["q"], waitMs: 60_000)))
        let second = h.coordinator.process([claim], now: h.now)
        #expect(h.coordinator.waitingClaims == 1, "the claim could not see the uncommitted job, so it waits")

        try blocker.run("COMMIT")
        let events = try first.commit.settle()
        _ = try second.commit.settle()
        for answer in first.completions + second.completions { answer.respond(answer.reply) }
        #expect(events.map(\.kind) == [.enqueued])
        guard case .enqueued(let job, _)? = enqueued.last else {
            Issue.record("enqueue answered \(String(describing: enqueued.last))")
            return
        }
        #expect(claimed.all.isEmpty)

        // The writer looks again at once, and the claim gets the job.
        #expect(h.coordinator.nextDeadline() == 0)
        let third = h.coordinator.process([], now: h.now)
        _ = try third.commit.settle()
        for answer in third.completions { answer.respond(answer.reply) }
        #expect(claimed.last?.claimedJob??.id == job.id)
        #expect(h.coordinator.waitingClaims == 0)
    }

    /// Once the offers are made and nobody waits for them, the writer goes back to sleep: no
    /// transactions in a loop.
    @Test(.enabled(if: Backend.available.contains(.postgresql))) func offersAgain_endWhenNothingIsLeftToOffer() throws {
        let h = try CoordinatorHarness(.postgresql)
        let waiter = h.park(["q"], waitMs: 60_000)
        h.run([h.command(.enqueue(EnqueueRequest(queue: "other"))).0])
        #expect(h.coordinator.waitingClaims == 1)
        #expect(waiter.all.isEmpty)
        // "other" was offered, but nobody waits there: nothing is due now.
        #expect(h.coordinator.nextDeadline().map { $0 > h.now } ?? true)
    }

    /// Another connection holding the event counter's row in an open transaction, so commits
    /// that take seqs wait until it ends.
    private func holdEventCounter(of h: CoordinatorHarness) throws -> PostgresSession {
        let blocker = PostgresSession(settings: try PostgresSettings(url: h.path), logger: Logger(label: "test"))
        try blocker.run("BEGIN")
        try blocker.run("SELECT last_seq FROM docket_event_counter WHERE id = 1 FOR UPDATE")
        return blocker
    }
}
