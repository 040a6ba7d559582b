import DocketProtocol
import DocketStore
import Logging
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Keeps systemd informed while the daemon runs: `WATCHDOG=1` at half the watchdog period
/// while the writer is making progress, and a `STATUS=` line with job counts and connections.
struct ServiceNotifier {
    /// How often the STATUS line is refreshed: `systemctl status` is read by people, and
    /// counting jobs is not free on a large database.
    static let statusPeriod: TimeAmount = .seconds(5)

    let context: ServerContext
    let eventLoop: any EventLoop

    /// Starts both timers; does nothing when systemd is not listening (`NOTIFY_SOCKET` unset).
    func start() -> [RepeatedTask] {
        guard getenv("NOTIFY_SOCKET") != nil else { return [] }
        var tasks: [RepeatedTask] = []
        if let interval = Systemd.watchdogInterval() {
            let writer = context.writer
            let logger = context.logger
            let half = TimeAmount.nanoseconds(interval.nanoseconds / 2)
            tasks.append(
                eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: half) { _ in
                    if writer.isMakingProgress(limit: interval) {
                        Systemd.notify("WATCHDOG=1")
                    } else {
                        logger.critical("the writer has been stuck in one transaction longer than the watchdog period; withholding WATCHDOG=1 so systemd restarts docketd")
                    }
                })
        }
        let context = self.context
        let eventLoop = self.eventLoop
        tasks.append(
            eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: Self.statusPeriod) { _ in
                let connections = context.connectionCount
                let waiting = context.writer.waitingClaims
                context.readers.run(on: eventLoop) { reader throws(StoreError) in try reader.counts() }
                    .whenSuccess { queues in
                        Systemd.notify("STATUS=" + Self.status(queues: queues, connections: connections, waiting: waiting))
                    }
            })
        return tasks
    }

    /// `12 pending, 3 running, 40 completed, 1 failed, 0 cancelled; 4 connections, 2 waiting claims`
    static func status(
        queues: [(queue: String, counts: [(state: JobState, count: Int64)])], connections: Int, waiting: Int
    ) -> String {
        var totals: [JobState: Int64] = [:]
        for queue in queues {
            for entry in queue.counts { totals[entry.state, default: 0] += entry.count }
        }
        let jobs = JobState.allCases.map { "\(totals[$0] ?? 0) \($0.rawValue)" }.joined(separator: ", ")
        return "\(jobs); \(connections) connections, \(waiting) waiting claims"
    }
}
