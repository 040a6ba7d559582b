import DocketProtocol

#if canImport(Glibc)
import Glibc
#endif

/// What every job of one `docket work` shares.
struct WorkSettings: Sendable {
    let command: [String]
    let lease: Duration
    let grace: Duration
    let socketPath: String
    /// An exit status that snoozes the job for `snoozeDelay` instead of failing it.
    let snoozeExit: Int32?
    let snoozeDelay: Duration
    /// docket's own environment, which each command inherits.
    let inherited: [String]

    init(
        command: [String], lease: Duration, grace: Duration, socketPath: String, snoozeExit: Int32? = nil,
        snoozeDelay: Duration = .seconds(30)
    ) {
        self.command = command
        self.snoozeExit = snoozeExit
        self.snoozeDelay = snoozeDelay
        self.lease = lease
        self.grace = grace
        self.socketPath = socketPath
        var entries: [String] = []
        var cursor = environ
        while let entry = cursor.pointee {
            entries.append(String(cString: entry))
            cursor += 1
        }
        inherited = entries
    }

    /// The command's environment: docket's, with the job's facts in `DOCKET_*` and its trace
    /// context in `TRACEPARENT`/`TRACESTATE` (docket's own are never passed on: the command
    /// belongs to the job's trace, or to none).
    func environment(for job: Job) -> [String] {
        var facts = [
            "DOCKET_JOB_ID=\(job.id)", "DOCKET_JOB_VERSION=\(job.version)", "DOCKET_JOB_ATTEMPT=\(job.attempt)",
            "DOCKET_QUEUE=\(job.queue)", "DOCKET_SOCKET=\(socketPath)",
        ]
        if let traceparent = job.traceparent { facts.append("TRACEPARENT=\(traceparent)") }
        if let tracestate = job.tracestate { facts.append("TRACESTATE=\(tracestate)") }
        let replaced = Set(facts.map { $0.prefix { $0 != "=" } } + ["TRACEPARENT", "TRACESTATE"])
        return inherited.filter { !replaced.contains($0.prefix { $0 != "=" }) } + facts
    }
}
