import DocketProtocol
import Synchronization

extension DocketClient {
    /// What a watch follows.
    public enum WatchScope: Sendable, Equatable {
        case everything
        case queue(String)
        case job(Int64)
    }

    /// The events of a job, a queue or everything, as they are recorded.
    ///
    /// The watch runs on a connection of its own. When that connection drops, the watch
    /// reconnects (per ``reconnect``) and asks for the events after the last one it delivered,
    /// so the sequence has no gap and no duplicate. It ends with an error when the daemon
    /// refuses the watch (`unknown_op` from a daemon that does not serve it) or cannot be
    /// reached again; it ends without one when the task iterating it is cancelled.
    ///
    /// ```swift
    /// for try await event in client.watch(.queue("emails")) {
    ///     print(event.seq, event.job, event.kind, event.state)
    /// }
    /// ```
    ///
    /// - Parameter since: replay the stored events after this `seq` first; by default only
    ///   events recorded from now on are delivered.
    public nonisolated func watch(_ scope: WatchScope = .everything, since: Int64? = nil) -> AsyncThrowingStream<JobEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream<JobEvent, any Error>.makeStream()
        let watcher = Watcher(socketPath: socketPath, policy: reconnect, scope: scope, since: since, continuation: continuation)
        let task = Task { await watcher.run() }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}

/// One watch: connects, asks, forwards event lines, and on a drop starts over after the last seq.
private final class Watcher: Sendable {
    let socketPath: String
    let policy: ReconnectPolicy
    let scope: DocketClient.WatchScope
    let continuation: AsyncThrowingStream<JobEvent, any Error>.Continuation
    /// The newest seq delivered; written on the connection's event loop, read by `run`.
    let lastSeq: Mutex<Int64?>

    init(
        socketPath: String, policy: ReconnectPolicy, scope: DocketClient.WatchScope, since: Int64?,
        continuation: AsyncThrowingStream<JobEvent, any Error>.Continuation
    ) {
        self.socketPath = socketPath
        self.policy = policy
        self.scope = scope
        self.continuation = continuation
        lastSeq = Mutex(since)
    }

    func run() async {
        var attempts = ReconnectPolicy.Attempts(policy)
        var everWatched = false
        while !Task.isCancelled {
            do {
                try await watchOnce()
                everWatched = true
                attempts = ReconnectPolicy.Attempts(policy)
            } catch let refusal as DocketError where refusal.code != .shuttingDown {
                continuation.finish(throwing: refusal)
                return
            } catch {
                // Only a watch that once worked is worth resuming; a first failure is reported.
                guard everWatched, !Task.isCancelled, let delay = attempts.nextDelay() else {
                    continuation.finish(throwing: Task.isCancelled ? nil : error)
                    return
                }
                try? await Task.sleep(for: delay)
            }
        }
        continuation.finish()
    }

    /// One connection's worth of watching: returns when the connection closes.
    private func watchOnce() async throws {
        let connection = try await DocketConnection.connect(socketPath: socketPath) { [self] line in deliver(line) }
        let since = lastSeq.withLock { $0 }
        var members: [(String, JSONValue?)] = [("since", since.map(JSONValue.int))]
        switch scope {
        case .everything: break
        case .queue(let name): members.append(("queue", .string(name)))
        case .job(let id): members.append(("job", .int(id)))
        }
        let answer = try await connection.send(request("watch", members))
        guard answer["ok"] == true else {
            await connection.close()
            throw DocketError(answer: answer)
        }
        // Without `since`, a resumed watch must start where this one started, not at its own "now".
        if let seq = answer["seq"]?.int64 { lastSeq.withLock { last in if last == nil { last = seq } } }
        await withTaskCancellationHandler {
            await connection.closed()
        } onCancel: {
            Task { await connection.close() }
        }
        throw DocketClientError.connectionClosed
    }

    private func deliver(_ line: JSONValue) {
        guard let event = try? JobEvent(json: line) else { return }
        let fresh = lastSeq.withLock { last in
            guard event.seq > (last ?? Int64.min) else { return false }
            last = event.seq
            return true
        }
        if fresh { continuation.yield(event) }
    }
}
