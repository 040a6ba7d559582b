import DocketProtocol
import DocketStore
import NIOCore

/// One connection's `watch`: replays stored events after `since`, then streams live ones,
/// with no gap and no duplicate.
///
/// The stream subscribes to the hub before it reads anything, so every event committed after
/// that moment reaches it live, and every event committed before is in the database when the
/// replay reads it. Events are queued in `seq` order and anything at or below the last queued
/// seq is dropped, which removes the overlap. Lives on its connection's event loop.
final class WatchStream {
    /// Events a watcher may fall behind by before it is cut off (it can resume with `since`).
    static let maxBacklog = 10_000
    private static let replayPage = 500

    private enum Phase {
        /// Subscribed; waiting for the `watch` answer to be written.
        case starting
        case replaying
        case live
        case ended
    }

    let scope: WatchScope
    private let since: Int64?
    /// Whether `log` events are streamed; left out, they still move the stream's place on.
    private let logs: Bool
    private var phase = Phase.starting
    /// The highest seq queued or written so far.
    private var lastQueued: Int64 = 0
    /// The last seq written to the socket: where a cut-off watcher resumes.
    private(set) var lastWritten: Int64 = 0
    /// Live events that arrived before the replay finished.
    private var early: [JobEvent] = []
    /// Events waiting for the socket to take them.
    private var backlog = CircularBuffer<JobEvent>()
    private var fetching = false

    init(_ request: WatchRequest) {
        scope = request.scope
        since = request.since
        logs = request.logs
    }

    var isEnded: Bool { phase == .ended }

    /// What the stream wants its connection to do next.
    enum Action {
        case none
        /// Read the next page of stored events after this seq.
        case fetch(after: Int64)
        /// The watcher is too far behind: send the overflow error and close.
        case overflow
    }

    /// Live events from the hub.
    func receive(_ events: [JobEvent]) -> Action {
        guard phase != .ended else { return .none }
        if phase == .live {
            enqueue(events)
        } else {
            early += logs ? events : events.filter { $0.kind != .log }
        }
        return backlog.count + early.count > Self.maxBacklog ? .overflow : .none
    }

    /// The `watch` answer (with the latest seq) has been written; events may follow it.
    func start(latest: Int64) -> Action {
        if let since {
            lastQueued = since
            lastWritten = since
            phase = .replaying
            fetching = true
            return .fetch(after: since)
        }
        lastQueued = latest
        lastWritten = latest
        goLive()
        return .none
    }

    /// A page of stored events has been read.
    func replayed(_ page: [JobEvent]) -> Action {
        fetching = false
        guard phase == .replaying else { return .none }
        enqueue(page)
        if page.count < Self.replayPage { goLive() }
        return backlog.count + early.count > Self.maxBacklog ? .overflow : .none
    }

    static var pageSize: Int { replayPage }

    /// Writes what the socket takes now; ends a job watch at the job's final event.
    func pump(into channel: ChannelHandlerContext) -> Action {
        var wrote = false
        while channel.channel.isWritable, let event = backlog.popFirst() {
            channel.write(NIOAny(channel.channel.allocator.buffer(bytes: ResponseEncoder.encodeEventLine(event))), promise: nil)
            lastWritten = event.seq
            wrote = true
            if case .job = scope, event.state.isFinal {
                phase = .ended
                backlog.removeAll()
                break
            }
        }
        if wrote { channel.flush() }
        if phase == .replaying, !fetching, backlog.count < Self.replayPage {
            fetching = true
            return .fetch(after: lastQueued)
        }
        return .none
    }

    private func goLive() {
        phase = .live
        enqueue(early)
        early.removeAll()
    }

    private func enqueue(_ events: [JobEvent]) {
        for event in events where event.seq > lastQueued {
            lastQueued = event.seq
            if logs || event.kind != .log { backlog.append(event) }
        }
    }
}
