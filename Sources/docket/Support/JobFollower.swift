import DocketClient
import DocketProtocol

/// Follows one job until a condition holds: through `watch` when the daemon serves it, else
/// by reading the job with `get` at growing intervals (50 ms doubling to `maxPollInterval`).
/// No claim is involved, so following never disturbs the job.
struct JobFollower {
    let client: DocketClient
    var maxPollInterval: Duration = .seconds(1)

    /// Returns the first state of the job that satisfies `done`.
    func follow(_ id: Int64, until done: (JobReference) -> Bool) async throws -> JobReference {
        // Watch first, then read: a change made between the two is still in the events.
        let events: AsyncThrowingStream<JobEvent, any Error>?
        do {
            events = try await client.watch(.job(id))
        } catch let refusal as DocketError where refusal.code == .unknownOp {
            events = nil  // an older daemon
        }
        let current = try await client.get(job: id).reference
        if done(current) { return current }
        if let events {
            for try await event in events {
                let seen = JobReference(id: id, version: event.version, state: event.state)
                if done(seen) { return seen }
            }
        }
        var delay = Duration.milliseconds(50)
        while true {
            try await Task.sleep(for: delay)
            let seen = try await client.get(job: id).reference
            if done(seen) { return seen }
            delay = min(delay * 2, maxPollInterval)
        }
    }
}
