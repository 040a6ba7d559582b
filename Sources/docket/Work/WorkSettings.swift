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
    /// docket's own environment, which each command inherits.
    let inherited: [String]

    init(command: [String], lease: Duration, grace: Duration, socketPath: String) {
        self.command = command
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

    /// The command's environment: docket's, with the job's facts in `DOCKET_*`.
    func environment(for job: Job) -> [String] {
        let facts = [
            "DOCKET_JOB_ID=\(job.id)", "DOCKET_JOB_VERSION=\(job.version)", "DOCKET_JOB_ATTEMPT=\(job.attempt)",
            "DOCKET_QUEUE=\(job.queue)", "DOCKET_SOCKET=\(socketPath)",
        ]
        let replaced = Set(facts.map { $0.prefix { $0 != "=" } })
        return inherited.filter { !replaced.contains($0.prefix { $0 != "=" }) } + facts
    }
}
