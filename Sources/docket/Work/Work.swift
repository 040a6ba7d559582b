import ArgumentParser
import DocketClient
import DocketProtocol
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

struct Work: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command for each job of a queue.",
        discussion: """
            Claims jobs and runs CMD for each, up to --concurrency at a time:
              docket work --queue emails -- ./send-email.sh
              docket work --queue thumbs --concurrency 4 --lease 2m -- ./thumb.sh

            What the command gets:
              stdin   the payload: a string as it is, any other value as JSON
              env     DOCKET_JOB_ID, DOCKET_JOB_VERSION, DOCKET_JOB_ATTEMPT,
                      DOCKET_QUEUE, DOCKET_SOCKET, and the job's TRACEPARENT
                      and TRACESTATE when it has them
              fd 3    for progress: each line written to it is reported as the
                      job's progress (JSON if it parses, else a string):
                      echo '{"pct":50}' >&3

            How the job ends:
              exit 0      completed; the result is stdout (JSON if it parses,
                          else a string)
              exit N      failed with {"exit_status": N, "stderr_tail": the last
                          4 KiB of stderr}; retried while attempts remain
              exit S      with --snooze-exit S: snoozed for --snooze-delay, the
                          attempt not counted
              timed out   (the job's timeout_ms passed) the command gets SIGTERM,
                          then SIGKILL after --grace; the daemon fails the attempt
              cancelled   (docket cancel, or the lease lost) the command gets
                          SIGTERM, then SIGKILL after --grace; nothing is reported

            The lease is renewed every third of --lease while the command runs, and \
            the command's stderr is passed through. SIGTERM or Ctrl-C stops claiming \
            and gives running jobs --grace to finish; those still running then are \
            stopped (SIGTERM, SIGKILL after --grace) and failed with an immediate \
            retry, for another worker. A second signal stops them at once.
            """)

    @ParentCommand var docket: Docket
    @Option(name: .customLong("queue"), help: "A queue to take jobs from; repeat for several.") var queues: [String] = []
    @Option(help: "Jobs to run at once.") var concurrency = 1
    @Option(help: "The lease of each job (renewed while the command runs).") var lease = DurationArgument(milliseconds: 30_000, "30s")
    @Option(help: "How long a command may take to stop after SIGTERM, and to finish when docket work is stopped.")
    var grace = DurationArgument(milliseconds: 10_000, "10s")
    @Option(help: "Name recorded as the jobs' worker (default: pid@uid).") var worker: String?
    @Option(help: "Exit after this many jobs.") var maxJobs: Int?
    @Option(help: "An exit status that snoozes the job (back to pending, the attempt not counted) instead of failing it.")
    var snoozeExit: Int32?
    @Option(help: "How long --snooze-exit snoozes the job.") var snoozeDelay = DurationArgument(milliseconds: 30_000, "30s")
    @Argument(parsing: .postTerminator, help: "The command and its arguments, after --.") var command: [String] = []

    func validate() throws {
        if queues.isEmpty { throw ValidationError("name a queue: --queue NAME") }
        if command.isEmpty { throw ValidationError("give the command to run after --: docket work --queue \(queues.first ?? "Q") -- CMD ARGS...") }
        if concurrency < 1 { throw ValidationError("--concurrency must be at least 1") }
        if lease.duration < .milliseconds(3) { throw ValidationError("--lease must be at least 3ms") }
        if let snoozeExit, !(1...255).contains(snoozeExit) { throw ValidationError("--snooze-exit must be an exit status from 1 to 255") }
    }

    func run() async throws {
        signal(SIGPIPE, SIG_IGN)  // a command that stops reading its stdin must not kill docket
        let shutdown = Shutdown()
        let settings = WorkSettings(
            command: command, lease: lease.duration, grace: grace.duration, socketPath: docket.socketPath, snoozeExit: snoozeExit,
            snoozeDelay: snoozeDelay.duration)
        let reports = docket.client(reconnect: .standard)
        try await reports.ping()  // no daemon: say so now, not at the first claim
        let tickets = Tickets(maxJobs ?? Int.max)
        Console.standardError("docket work: taking jobs from \(queues.joined(separator: ", ")), \(concurrency) at a time")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    try await Slot(work: self, settings: settings, reports: reports, shutdown: shutdown, tickets: tickets).run()
                }
            }
            try await group.waitForAll()
        }
        if let signal = shutdown.requested.value { Console.standardError("docket work: stopped by signal \(signal)") }
    }
}

/// One of `--concurrency` loops: claim on a connection of its own, run the job, repeat.
private struct Slot {
    let work: Work
    let settings: WorkSettings
    let reports: DocketClient
    let shutdown: Shutdown
    let tickets: Tickets

    /// How long each claim waits on the daemon for a job before asking again.
    static let claimWait = Duration.seconds(30)

    func run() async throws {
        // Waiting claims hold back later answers on their connection, so each slot has its own.
        let claims = work.docket.client(reconnect: .standard)
        let closer = Task {
            _ = await shutdown.requested.wait()
            await claims.close()  // ends a waiting claim; the daemon gives its job back
        }
        defer { closer.cancel() }
        var retryDelay = Duration.milliseconds(100)
        while shutdown.requested.value == nil, tickets.take() {
            let job: Job?
            do {
                job = try await claims.claim(queues: work.queues, lease: settings.lease, wait: Self.claimWait, worker: work.worker)
                retryDelay = .milliseconds(100)
            } catch {
                tickets.giveBack()
                if shutdown.requested.value != nil { return }
                guard error is DocketClientError || (error as? DocketError)?.code == .shuttingDown else { throw error }
                Console.standardError("docket work: cannot claim (\(error)); trying again in \(retryDelay)")
                try await Task.sleep(for: retryDelay)
                retryDelay = min(retryDelay * 2, .seconds(5))
                continue
            }
            guard let job else {
                tickets.giveBack()
                continue
            }
            // A job claimed just as the stop began runs like the others: within the grace period.
            await JobRun(job: job, settings: settings, reports: reports, shutdown: shutdown).run()
        }
    }
}

/// What is left of `--max-jobs`, shared by the slots: one ticket per claim that got a job.
private final class Tickets: Sendable {
    private let left: Mutex<Int>

    init(_ count: Int) {
        left = Mutex(count)
    }

    func take() -> Bool {
        left.withLock { left in
            guard left > 0 else { return false }
            left -= 1
            return true
        }
    }

    func giveBack() {
        left.withLock { $0 += 1 }
    }
}
