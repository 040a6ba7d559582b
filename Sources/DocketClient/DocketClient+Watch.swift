import DocketProtocol
import Synchronization

extension DocketClient {
    /// The events of a job, a queue or everything, as they are recorded.
    ///
    /// Returns once the daemon has accepted the watch, so every event recorded after this call
    /// returns is in the sequence: read the job (or anything else) after starting the watch
    /// and no change can slip between the two. It throws at once when the daemon refuses the
    /// watch (`unknown_op` from a daemon that does not serve it) or cannot be reached.
    ///
    /// The watch runs on a connection of its own. When that connection drops, the watch
    /// reconnects (per ``reconnect``) and asks for the events after the last one it delivered,
    /// so the sequence has no gap and no duplicate; the same happens when the daemon cuts off
    /// a watcher that fell too far behind (`watch_overflow`). A watch of one job ends after the
    /// job's final event. The sequence ends with an error when the daemon cannot be reached
    /// again, and without one when the task iterating it is cancelled.
    ///
    /// ```swift
    /// for try await event in try await client.watch(.queue("emails")) {
    ///     print(event.seq, event.job, event.kind, event.state)
    /// }
    /// ```
    ///
    /// - Parameters:
    ///   - since: replay the stored events after this `seq` first; by default only events
    ///     recorded from now on are delivered.
    ///   - logs: deliver the jobs' `log` events too.
    public nonisolated func watch(_ scope: WatchScope = .everything, since: Int64? = nil, logs: Bool = false) async throws
        -> AsyncThrowingStream<JobEvent, any Error>
    {
        let (stream, continuation) = AsyncThrowingStream<JobEvent, any Error>.makeStream()
        let watcher = Watcher(
            socketPath: socketPath, policy: reconnect, scope: scope, since: since, logs: logs, continuation: continuation)
        let first = try await watcher.open()
        let task = Task { await watcher.run(first) }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}

/// One watch: connects, asks, forwards event lines, and on a drop starts over after the last seq.
private final class Watcher: Sendable {
    let socketPath: String
    let policy: ReconnectPolicy
    let scope: WatchScope
    let logs: Bool
    let continuation: AsyncThrowingStream<JobEvent, any Error>.Continuation
    /// The newest seq delivered; written on the connection's event loop, read by `run`.
    let lastSeq: Mutex<Int64?>
    /// Set when a job watch has seen the job's final event: nothing more will come.
    let finished = Mutex(false)

    /// A connection whose watch the daemon accepted, and what says it is over.
    struct Session {
        let connection: DocketConnection
        let ended: AsyncStream<Void>
    }

    init(
        socketPath: String, policy: ReconnectPolicy, scope: WatchScope, since: Int64?, logs: Bool,
        continuation: AsyncThrowingStream<JobEvent, any Error>.Continuation
    ) {
        self.logs = logs
        self.socketPath = socketPath
        self.policy = policy
        self.scope = scope
        self.continuation = continuation
        lastSeq = Mutex(since)
    }

    /// Follows sessions until the job's watch is over or the task is cancelled, opening a new
    /// one after each drop.
    func run(_ first: Session) async {
        var session: Session? = first
        var attempts = ReconnectPolicy.Attempts(policy)
        while !Task.isCancelled, !finished.withLock({ $0 }) {
            if let current = session {
                await follow(current)
                session = nil
                attempts = ReconnectPolicy.Attempts(policy)
                continue
            }
            do {
                session = try await open()
            } catch let refusal as DocketError where refusal.code != .shuttingDown {
                continuation.finish(throwing: refusal)
                return
            } catch {
                guard !Task.isCancelled, let delay = attempts.nextDelay() else {
                    continuation.finish(throwing: Task.isCancelled ? nil : error)
                    return
                }
                try? await Task.sleep(for: delay)
            }
        }
        continuation.finish()
    }

    /// Connects and sends `watch`, resuming after the last delivered event.
    func open() async throws -> Session {
        // Lines arrive before `connect` returns the connection, so they report through a stream.
        let (ended, endedContinuation) = AsyncStream<Void>.makeStream()
        let connection = try await DocketConnection.connect(socketPath: socketPath) { [self] line in
            // Anything but an event (a `watch_overflow` error) ends this connection's watch.
            if let event = line["event"], deliver(event), !finished.withLock({ $0 }) { return }
            endedContinuation.yield()
        }
        let since = lastSeq.withLock { $0 }
        var members: [(String, JSONValue?)] = [("since", since.map(JSONValue.int)), ("logs", logs ? true : nil)]
        switch scope {
        case .everything: break
        case .queue(let name): members.append(("queue", .string(name)))
        case .job(let id): members.append(("job", .int(id)))
        }
        let answer: JSONValue
        do {
            answer = try await connection.send(request("watch", members))
        } catch {
            await connection.close()
            throw error
        }
        guard answer["ok"] == true else {
            await connection.close()
            throw DocketError(answer: answer)
        }
        // Without `since`, a resumed watch must start where this one started, not at its own "now".
        if let seq = answer["seq"]?.int64 { lastSeq.withLock { last in if last == nil { last = seq } } }
        Task {
            await connection.closed()
            endedContinuation.yield()
        }
        return Session(connection: connection, ended: ended)
    }

    /// Returns when the session's connection closes, its watch ends, or the task is cancelled.
    private func follow(_ session: Session) async {
        for await _ in session.ended { break }
        await session.connection.close()
    }

    /// Yields the event unless it was delivered before; `false` for a line that is not an event.
    private func deliver(_ line: JSONValue) -> Bool {
        guard let event = try? JobEvent(json: line) else { return false }
        let fresh = lastSeq.withLock { last in
            guard event.seq > (last ?? Int64.min) else { return false }
            last = event.seq
            return true
        }
        guard fresh else { return true }
        continuation.yield(event)
        if case .job = scope, event.state.isFinal { finished.withLock { $0 = true } }
        return true
    }
}
