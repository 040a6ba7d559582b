import DocketProtocol
import DocketStore
import Logging
import NIOCore

/// One client connection: decodes request lines, routes each to the writer or a reader, and
/// writes the answers back in the order the requests arrived.
///
/// Changes go to the writer as soon as they arrive (the writer keeps their order), so a
/// pipelining client gets them into one group commit. A read waits until the changes sent
/// before it on this connection are answered, and changes after a read wait for it, so
/// every answer reflects exactly the requests before it.
final class ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = LineFrame
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private struct Slot {
        var response: [UInt8]?
        /// A claim answer that, if it cannot be delivered, must give the job back.
        var claimed: JobVersion?
        var closeAfter = false
        /// The `watch` answer: once written, its event lines may follow.
        var startsWatch: Int64?
    }

    let server: ServerContext
    /// Set for a socket named `readonly`: only ops that change nothing are served.
    private let readOnly: Bool
    private(set) var context: ChannelHandlerContext!
    private var origin = ConnectionOrigin(peer: nil)
    /// Answers not yet written, in request order; `firstSequence` numbers the first one.
    private var slots = CircularBuffer<Slot>()
    private var firstSequence = 0
    private var waitingToStart = CircularBuffer<(sequence: Int, request: Request)>()
    private var changesInFlight = 0
    private var readInFlight = false
    /// Set after a `too_large` line: nothing more is read from this connection.
    private var refusing = false
    private var inputClosed = false
    private var readHeld = false
    var watch: WatchStream?

    init(server: ServerContext, readOnly: Bool) {
        self.server = server
        self.readOnly = readOnly
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelActive(context: ChannelHandlerContext) {
        let credentials = PeerCredentials.of(context.channel)
        origin = ConnectionOrigin(peer: credentials?.label)
        server.register(context.channel)
        context.fireChannelActive()
        if !server.access.admits(credentials) {
            server.logger.notice("refused a connection", metadata: ["peer": "\(credentials?.label ?? "unknown")"])
            refuse(
                ProtocolError(
                    .forbidden,
                    "uid \(credentials.map { String($0.uid) } ?? "?") may not use this docketd; "
                        + "ask its operator to add --allow-uid or --allow-gid"))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        origin.markClosed()
        server.unregister(context.channel)
        if watch != nil { server.hub.unsubscribe(ObjectIdentifier(self)) }
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, let watch { perform(watch.pump(into: context)) }
        context.fireChannelWritabilityChanged()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refusing else { return }
        switch unwrapInboundIn(data) {
        case .tooLarge:
            server.metrics.refused(op: nil, .tooLarge)
            refuse(
                ProtocolError(
                    .tooLarge, "request line is longer than \(server.info.limits.maxLineBytes) bytes; the connection will close"))
        case .line(let line):
            switch server.decoder.decode(line.readableBytesView) {
            case .failure(let rejection):
                server.metrics.refused(op: rejection.op, rejection.error.code)
                append(Slot(response: ResponseEncoder.encode(id: rejection.id, reply: .failure(rejection.error))))
            case .success(let request):
                accept(request)
            }
        }
        flushReadyAnswers()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            // The client half-closed (`socat -`, `nc -N`): answer what it sent, then close.
            inputClosed = true
            if refusing { context.close(promise: nil) } else { closeIfDone() }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        server.logger.debug("connection error", metadata: ["error": "\(error)", "peer": "\(origin.peer ?? "?")"])
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if slots.count >= server.maxOutstandingPerConnection {
            readHeld = true
        } else {
            context.read()
        }
    }

    /// Closes once every answer so far is written: used when the daemon shuts down.
    func closeWhenIdle() {
        refusing = true
        inputClosed = true
        stopWatch()
        closeIfDone()
    }

    // MARK: Requests

    private func accept(_ request: Request) {
        switch request.operation {
        case .hello:
            answerAtOnce(request, .hello(server.info))
        case .ping:
            answerAtOnce(request, .pong)
        default:
            if readOnly && !request.operation.isReadOnly {
                let error = ProtocolError(
                    .forbidden, "this socket is read-only; send \(request.operation.name) through the read-write socket")
                answerAtOnce(request, .failure(error))
                return
            }
            if case .watch = request.operation, watch != nil || watchIsWaitingToStart {
                let error = ProtocolError.badRequest("this connection is already watching; open another connection for a second watch")
                answerAtOnce(request, .failure(error))
                return
            }
            if server.isDraining {
                let error = ProtocolError(.shuttingDown, "docketd is shutting down; reconnect when it is back")
                answerAtOnce(request, .failure(error))
                return
            }
            waitingToStart.append((firstSequence + slots.count, request))
            append(Slot())
            startRequests()
        }
    }

    /// A watch sent behind requests still in flight waits to start; a second one sent right
    /// after it must meet it already.
    private var watchIsWaitingToStart: Bool {
        waitingToStart.contains { waiting in
            if case .watch = waiting.request.operation { return true }
            return false
        }
    }

    private func answerAtOnce(_ request: Request, _ reply: Reply) {
        server.metrics.answered(request.operation.name, reply)
        append(Slot(response: ResponseEncoder.encode(id: request.id, reply: reply)))
    }

    /// Answers with a last error line, reads nothing more, and closes after it.
    func refuse(_ error: ProtocolError) {
        refusing = true
        append(Slot(response: ResponseEncoder.encode(id: nil, reply: .failure(error)), closeAfter: true))
        flushReadyAnswers()
    }

    private func append(_ slot: Slot) {
        slots.append(slot)
    }

    /// Starts waiting requests in order while the ordering rule allows.
    /// A request leaves the queue before it is submitted: an answer that comes back at once
    /// (a refusal decided on the spot) starts the next requests from inside the submission.
    private func startRequests() {
        while let next = waitingToStart.first {
            if next.request.operation.isWrite {
                guard !readInFlight else { return }
                waitingToStart.removeFirst()
                changesInFlight += 1
                submitChange(next.request, sequence: next.sequence)
            } else {
                guard !readInFlight, changesInFlight == 0 else { return }
                waitingToStart.removeFirst()
                readInFlight = true
                submitRead(next.request, sequence: next.sequence)
            }
        }
    }

    private func submitChange(_ request: Request, sequence: Int) {
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        let (id, fields, op) = (request.id, request.fields, request.operation.name)
        server.writer.submit(
            WriteCommand(action: .operation(request.operation), origin: origin, eventLoop: eventLoop) { reply in
                bound.value.changesInFlight -= 1
                bound.value.answer(sequence, op: op, id: id, reply: reply, fields: fields)
            })
    }

    private func submitRead(_ request: Request, sequence: Int) {
        if case .watch(let watchRequest) = request.operation { startWatch(watchRequest) }
        if case .backup(let path) = request.operation {
            complete(read: request, sequence: sequence, server.backup(to: path, on: context.eventLoop))
            return
        }
        let server = self.server
        let connections = server.connectionCount
        let waiting = server.writer.waitingClaims
        let operation = request.operation
        let future = server.readers.run(on: context.eventLoop) { reader throws(StoreError) -> Reply in
            switch operation {
            case .get(let get):
                return try reader.snapshot { () throws(StoreError) -> Reply in
                    guard let job = try reader.job(get.job) else { throw .jobNotFound(get.job) }
                    guard get.events else { return .found(job, events: nil) }
                    let events = try reader.events(ofJob: get.job)
                    guard get.logs else { return .found(job, events: events.filter { $0.kind != .log }) }
                    return .foundWithLog(job, events: events, logDroppedBytes: try reader.logDroppedBytes(ofJob: get.job))
                }
            case .list(let list):
                let page = try reader.list(list)
                return .listed(page.jobs, next: page.next)
            case .stats:
                return .stats(
                    Statistics(
                        queues: try reader.counts(), connections: connections, waitingClaims: waiting,
                        uptimeMs: server.clock.now() - server.startedAt))
            case .watch:
                return .watching(seq: try reader.latestEventSeq())
            case .scheduleGet(let name):
                guard let schedule = try reader.schedule(named: name) else { throw .scheduleNotFound(name) }
                return .schedule(schedule)
            case .scheduleList:
                return .schedules(try reader.schedules())
            case .queueGet(let name):
                return .queue(try reader.queues(named: name)[0])
            case .queueList:
                return .queues(try reader.queues(named: nil))
            case .metrics:
                return .metrics(try server.metricsText(reader))
            default:
                return .failure(ProtocolError(.internal, "\(operation.name) is not a read"))
            }
        }
        complete(read: request, sequence: sequence, future)
    }

    private func complete(read request: Request, sequence: Int, _ future: EventLoopFuture<Reply>) {
        let operation = request.operation
        let (id, fields) = (request.id, request.fields)
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        future.whenComplete { result in
            let handler = bound.value
            handler.readInFlight = false
            if case .watch = operation, case .success(.watching) = result {} else if case .watch = operation {
                handler.stopWatch()
            }
            switch result {
            case .success(let reply): handler.answer(sequence, op: operation.name, id: id, reply: reply, fields: fields)
            case .failure(let error as StoreError):
                handler.answer(sequence, op: operation.name, id: id, reply: .failure(error.protocolError))
            case .failure:
                handler.answer(
                    sequence, op: operation.name, id: id, reply: .failure(ProtocolError(.shuttingDown, "docketd is shutting down")))
            }
        }
    }

    // MARK: Answers

    private func answer(_ sequence: Int, op: String, id: JSONValue?, reply: Reply, fields: JobFields = .all) {
        server.metrics.answered(op, reply)
        let index = sequence - firstSequence
        slots[slots.index(slots.startIndex, offsetBy: index)].response = ResponseEncoder.encode(id: id, reply: reply, fields: fields)
        if case .claimed(let job?) = reply {
            slots[slots.index(slots.startIndex, offsetBy: index)].claimed = JobVersion(job: job.id, version: job.version)
        }
        if case .watching(let seq) = reply {
            slots[slots.index(slots.startIndex, offsetBy: index)].startsWatch = seq
        }
        flushReadyAnswers()
        startRequests()
    }

    /// Writes every answer at the head of the line that is ready, with one flush.
    private func flushReadyAnswers() {
        var wrote = false
        while let first = slots.first, let bytes = first.response {
            slots.removeFirst()
            firstSequence += 1
            if !context.channel.isActive {
                if let claimed = first.claimed { giveBack(claimed) }
                continue
            }
            var promise: EventLoopPromise<Void>?
            if let claimed = first.claimed {
                promise = context.eventLoop.makePromise()
                let writer = server.writer
                let origin = self.origin
                promise?.futureResult.whenFailure { _ in Self.giveBack(claimed, writer: writer, origin: origin) }
            }
            if first.closeAfter {
                // Close our half only and keep discarding input until the client closes
                // (or a grace period ends): closing outright with its unread bytes queued
                // would reset the connection and could lose the error line on its way.
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(bytes: bytes))).whenComplete { _ in
                    channel.close(mode: .output, promise: nil)
                    channel.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
                }
                return
            }
            context.write(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes)), promise: promise)
            wrote = true
            if let latest = first.startsWatch, let watch {
                context.flush()
                perform(watch.start(latest: latest))
                pumpWatch()
            }
        }
        if wrote { context.flush() }
        if readHeld, slots.count < server.maxOutstandingPerConnection {
            readHeld = false
            context.read()
        }
        closeIfDone()
    }

    /// Closes a half-closed connection once everything is answered, unless it is watching:
    /// `echo '{"op":"watch",…}' | socat - …` half-closes at once and still wants the events.
    func closeIfDone() {
        if inputClosed, slots.isEmpty, waitingToStart.isEmpty, watch == nil, context.channel.isActive {
            context.close(promise: nil)
        }
    }

    private func giveBack(_ claimed: JobVersion) {
        Self.giveBack(claimed, writer: server.writer, origin: origin)
    }

    /// The claimant is gone before its claim reached it: return the job to the queue.
    private static func giveBack(_ claimed: JobVersion, writer: Writer, origin: ConnectionOrigin) {
        writer.submit(WriteCommand(action: .release(claimed), origin: origin) { _ in })
    }
}
