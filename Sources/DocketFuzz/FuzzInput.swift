import DocketProtocol

/// What one fuzz input goes through: the bytes as one connection's stream, framed into lines
/// as the server frames them, each line decoded, and answers the daemon could send about it
/// encoded and read back. A broken invariant traps, and libFuzzer keeps the input.
enum FuzzInput {
    static let decoder = RequestDecoder()
    /// The daemon's clock for delays and schedules; fixed so that every run is reproducible.
    static let now: Int64 = 1_795_000_000_000
    /// A cron expression costs up to a few milliseconds to accept (it searches for its first
    /// firing), so an input full of them would slow the whole run down.
    static let maximumCronTries = 16
    static let maximumBatchAnswer = 16

    static func run(_ input: UnsafeBufferPointer<UInt8>) {
        let whole = max(input.count, 1)
        // A small limit, picked by the first byte, makes lines over it and lines ending right
        // at it common; with the real one, the lines are the requests to decode.
        checkFraming(input, limit: Int(input.first ?? 0), chunks: [whole, 1, 1 + input.count % 7])
        let framing = checkFraming(input, limit: decoder.limits.maxLineBytes, chunks: [whole])
        var cronTries = 0
        for line in framing.lines where !LineFramer.isBlank(StreamView(base: input, window: line)) {
            // A copy in an allocation of its own, so that AddressSanitizer catches a read past
            // either end of the line (the optimized build does not check buffer indices itself).
            let copy = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: line.count)
            defer { copy.deallocate() }
            _ = copy.initialize(from: input[line])
            checkLine(UnsafeBufferPointer(copy), cronTries: &cronTries)
        }
    }

    // MARK: Framing

    /// Where the lines are in the stream, and whether it ended with one over the limit.
    struct Framing: Equatable {
        var lines: [Range<Int>] = []
        var tooLarge = false
    }

    /// `LineFrameDecoder`'s use of `LineFramer`: bytes arrive `chunk` at a time, each search
    /// resumes where the last one stopped, and at the end of the stream an unterminated line
    /// still counts. Each window keeps the stream's indices, as a `ByteBufferView` keeps its buffer's.
    static func frame(_ bytes: UnsafeBufferPointer<UInt8>, limit: Int, chunk: Int) -> Framing {
        var framing = Framing()
        var reader = 0
        var received = 0
        var scanned = 0
        while received < bytes.count {
            received = min(bytes.count, received + chunk)
            searching: while true {
                switch LineFramer.nextLine(in: StreamView(base: bytes, window: reader..<received), from: scanned, limit: limit) {
                case .line(let length, let terminator):
                    check(length + terminator <= received - reader, "a line runs past the bytes received")
                    framing.lines.append(reader..<reader + length)
                    reader += length + terminator
                    scanned = 0
                case .needMore(let count):
                    check(count == received - reader, "needMore did not scan all \(received - reader) bytes")
                    scanned = count
                    break searching
                case .tooLarge:
                    framing.tooLarge = true
                    return framing
                }
            }
        }
        if reader < bytes.count { framing.lines.append(reader..<bytes.count) }
        return framing
    }

    /// The framing rules stated plainly, over the whole stream at once: a line ends at `\n`,
    /// one `\r` before it belongs to the terminator, a line over `limit` bytes ends the
    /// stream, and so does an unterminated tail that can no longer fit the limit.
    static func referenceFrame(_ bytes: UnsafeBufferPointer<UInt8>, limit: Int) -> Framing {
        var framing = Framing()
        var start = 0
        while let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) {
            var end = newline
            if end > start, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            guard end - start <= limit else {
                framing.tooLarge = true
                return framing
            }
            framing.lines.append(start..<end)
            start = newline + 1
        }
        let tail = start..<bytes.count
        if tail.count > limit + 1 || (tail.count == limit + 1 && bytes[tail.upperBound - 1] != UInt8(ascii: "\r")) {
            framing.tooLarge = true
        } else if !tail.isEmpty {
            framing.lines.append(tail)
        }
        return framing
    }

    /// However the stream is cut into reads, the lines are the ones the rules give.
    @discardableResult
    static func checkFraming(_ bytes: UnsafeBufferPointer<UInt8>, limit: Int, chunks: [Int]) -> Framing {
        let expected = referenceFrame(bytes, limit: limit)
        for chunk in chunks {
            check(
                frame(bytes, limit: limit, chunk: chunk) == expected,
                "framing with limit \(limit) in reads of \(chunk) bytes breaks the rules")
        }
        return expected
    }

    // MARK: Requests

    static func checkLine(_ line: UnsafeBufferPointer<UInt8>, cronTries: inout Int) {
        let parsed = try? JSONParser.parse(line)
        let outcome = decoder.decode(line)
        switch outcome {
        case .success(let request):
            guard case .object(let object)? = parsed else { fail("a line that is not a JSON object was accepted") }
            check(request.id == object["id"], "the decoded id is not the line's")
            check(isWithinLimits(request.operation), "\(request.operation) was accepted beyond the protocol's limits")
            checkAnswers(to: request, sent: object)
        case .failure(let rejection):
            check(
                rejection.error.code == .badRequest || rejection.error.code == .unknownOp,
                "a line was refused with \(rejection.error.code)")
            if let id = rejection.id {
                check(id.isScalar && parsed?["id"] == id, "a refusal echoes an id the line did not carry")
            }
            roundTrip(.failure(rejection.error), id: rejection.id)
        }
        var texts: [String] = []
        if let parsed {
            // Layout is not meaning: the compact form of the same value decodes alike.
            let compact = Array(JSONWriter.text(of: parsed).utf8)
            check((try? JSONParser.parse(compact)) == parsed, "the compact form of a value parses to another value")
            check(decoder.decode(compact) == outcome, "the compact form of a line decodes differently")
            collectLeaves(parsed, into: &texts)
        } else {
            check((try? outcome.get()) == nil, "a line that is not JSON was accepted")
            texts.append(String(decoding: line, as: UTF8.self))
        }
        checkTexts(texts, cronTries: &cronTries)
    }

    /// Answers the daemon could give: every accepted request may still be refused by the
    /// store, and the answers that carry the request's own fields must give them back as sent.
    static func checkAnswers(to request: Request, sent object: JSONObject) {
        roundTrip(.failure(ProtocolError(.notFound, "not found")), id: request.id)
        switch request.operation {
        case .enqueue(let enqueue):
            let answer = roundTrip(.enqueued(job(enqueue), created: true), id: request.id)
            checkEchoedJob(answer["job"], enqueue, sent: object)
        case .enqueueMany(let all):
            // The protocol's seeds hold batches of 1,000 jobs; answering all of them would take
            // most of the run's time for what the first few show (and the compact-form check
            // below already reads every payload back).
            let enqueues = all.prefix(maximumBatchAnswer)
            let answer = roundTrip(.enqueuedMany(enqueues.map { (job: job($0), created: true) }), id: request.id)
            let items = object["jobs"]?.array ?? []
            let echoed = answer["jobs"]?.array ?? []
            check(echoed.count == enqueues.count && items.count == all.count, "a batch answer lost jobs")
            for (index, enqueue) in enqueues.enumerated() {
                checkEchoedJob(echoed[index], enqueue, sent: items[index].object ?? JSONObject())
            }
        case .claim(let claim):
            var claimed = job(EnqueueRequest(queue: claim.queues[0]))
            claimed.worker = claim.worker
            let answer = roundTrip(.claimed(claimed), id: request.id)
            check(answer["job"]?["worker"] == claim.worker.map(JSONValue.string) ?? .null, "the worker was not echoed")
        case .progress(let progress):
            var running = job(EnqueueRequest(queue: "q"))
            running.progress = progress.progress
            let answer = roundTrip(.job(running), id: request.id)
            check(answer["job"]?["progress"] == object["progress"] ?? .null, "progress was not echoed as sent")
        case .complete(let complete):
            var completed = job(EnqueueRequest(queue: "q"))
            completed.result = complete.result
            let answer = roundTrip(.job(completed), id: request.id)
            check(answer["job"]?["result"] == object["result"] ?? .null, "the result was not echoed as sent")
        case .fail(let failure):
            var failed = job(EnqueueRequest(queue: "q"))
            failed.lastError = failure.error
            let answer = roundTrip(.job(failed), id: request.id)
            check(answer["job"]?["last_error"] == object["error"] ?? .null, "the error was not echoed as sent")
        case .log(let log):
            let line = ResponseEncoder.encodeEventLine(
                JobEvent(seq: 1, at: now, job: log.fence.job, queue: "q", kind: .log, version: log.fence.version, state: .running,
                         data: log.eventData, peer: nil))
            check(parseLine(line)?["event"]?["data"]?["text"] == .string(log.text), "a log line does not give its text back")
        case .snooze(let snooze):
            roundTrip(.failure(ProtocolError(.invalidState, "not running", job: JobReference(id: snooze.fence.job, version: snooze.fence.version, state: .pending))), id: request.id)
        case .cancel(let fence), .retry(let fence):
            roundTrip(
                .failure(ProtocolError(.staleVersion, "stale", job: JobReference(id: fence.job, version: fence.version, state: .running))),
                id: request.id)
        case .schedulePut(let put):
            guard let next = put.cron.next(after: now) else { fail("accepted cron \"\(put.cron)\" never fires") }
            let schedule = Schedule(
                name: put.name, cron: put.cron, queue: put.queue, payload: put.payload, priority: put.priority,
                maxAttempts: put.maxAttempts, paused: put.paused, version: 1, nextRunAt: next, lastRunAt: nil,
                createdAt: now, updatedAt: now)
            let answer = roundTrip(.schedule(schedule), id: request.id)["schedule"]
            check(answer?["name"] == .string(put.name) && answer?["queue"] == .string(put.queue), "schedule names changed")
            check(answer?["payload"] == object["payload"] ?? .null, "the schedule's payload was not echoed as sent")
            check(answer?["cron"]?.string.flatMap { try? CronExpression($0) } == put.cron, "the cron text reads back differently")
            check(answer?["next_run_at"]?.string.flatMap(Timestamp.parse) == next, "next_run_at reads back differently")
        case .scheduleGet(let name):
            roundTrip(
                .failure(ProtocolError(.staleVersion, "stale", schedule: ScheduleReference(name: name, version: 1))),
                id: request.id)
        case .scheduleDelete(let delete):
            roundTrip(
                .failure(ProtocolError(.staleVersion, "stale", schedule: ScheduleReference(name: delete.name, version: delete.version))),
                id: request.id)
        case .watch(let watch):
            guard case .queue(let queue) = watch.scope else { break }
            let line = ResponseEncoder.encodeEventLine(
                JobEvent(seq: 1, at: now, job: 1, queue: queue, kind: .enqueued, version: 1, state: .pending, data: nil, peer: nil))
            check(parseLine(line)?["event"]?["queue"] == .string(queue), "an event line does not give the queue back")
        case .backup(let path):
            check(roundTrip(.backedUp(path: path, bytes: 0), id: request.id)["path"] == .string(path), "the path was not echoed")
        case .queuePut(let put):
            let settings = QueueSettings(name: put.queue).applying(put)
            let answer = roundTrip(.queue(QueueInfo(settings: settings, counts: [.pending: 1])), id: request.id)["queue"]
            check(answer?["name"] == .string(put.queue), "the queue's name changed")
            check(answer?["max_running"] == settings.maxRunning.map { .number(String($0)) } ?? .null, "max_running changed")
            roundTrip(
                .failure(ProtocolError(.staleVersion, "stale", queue: QueueReference(name: put.queue, version: put.version + 1))),
                id: request.id)
        case .hello, .ping, .get, .list, .stats, .scheduleList, .purge, .queueGet, .queueList, .metrics:
            break
        }
    }

    /// What protocol/README.md promises of every accepted request, restated apart from the
    /// decoder: a field that escapes validation shows up here.
    static func isWithinLimits(_ operation: Op) -> Bool {
        let limits = decoder.limits
        func isName(_ text: String) -> Bool {
            !text.isEmpty && text.utf8.count <= limits.maxNameBytes
                && !text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
        }
        func isShort(_ text: String?) -> Bool { (text?.utf8.count ?? 0) <= limits.maxNameBytes }
        func isFence(_ fence: JobVersion) -> Bool { fence.job >= 1 && fence.version >= 1 }
        let priorities = Int64(Int32.min)...Int64(Int32.max)
        func isValid(_ job: EnqueueRequest) -> Bool {
            let runAt: Bool
            switch job.runAt {
            case .now: runAt = true
            case .at(let time): runAt = Timestamp.representable.contains(time)
            case .after(let delay): runAt = (0...limits.maxDelayMs).contains(delay)
            }
            return isName(job.queue) && priorities.contains(job.priority) && (1...limits.maxAttempts).contains(job.maxAttempts)
                && (0...limits.maxDelayMs).contains(job.backoffInitialMs)
                && (job.backoffInitialMs...limits.maxDelayMs).contains(job.backoffMaxMs) && isShort(job.uniqueKey) && runAt
                && job.concurrencyKey.map(isName) ?? true && job.timeoutMs.map { (1...limits.maxTimeoutMs).contains($0) } ?? true
                && job.traceparent.map(TraceContext.isValidTraceparent) ?? true
                && job.tracestate.map(TraceContext.isValidTracestate) ?? true
        }
        switch operation {
        case .hello(let client): return isShort(client)
        case .ping, .stats, .scheduleList, .queueList, .metrics: return true
        case .enqueue(let job): return isValid(job)
        case .enqueueMany(let jobs): return (1...limits.maxBatchJobs).contains(jobs.count) && jobs.allSatisfy(isValid)
        case .claim(let claim):
            return (1...limits.maxClaimQueues).contains(claim.queues.count) && claim.queues.allSatisfy(isName)
                && Set(claim.queues.map { Array($0.utf8) }).count == claim.queues.count
                && (1...limits.maxLeaseMs).contains(claim.leaseMs) && (0...limits.maxWaitMs).contains(claim.waitMs)
                && claim.worker.map(isName) ?? true
        case .progress(let progress):
            return isFence(progress.fence) && progress.leaseMs.map { (1...limits.maxLeaseMs).contains($0) } ?? true
        case .complete(let complete): return isFence(complete.fence)
        case .fail(let failure):
            return isFence(failure.fence) && failure.retryInMs.map { (0...limits.maxDelayMs).contains($0) } ?? true
        case .cancel(let fence), .retry(let fence): return isFence(fence)
        case .snooze(let snooze): return isFence(snooze.fence) && (0...limits.maxDelayMs).contains(snooze.delayMs)
        case .log(let log): return isFence(log.fence)
        case .get(let get): return get.job >= 1
        case .list(let list):
            return list.queue.map(isName) ?? true && (1...limits.maxListLimit).contains(list.limit) && (list.after ?? 0) >= 0
        case .watch(let watch):
            let scope: Bool
            switch watch.scope {
            case .everything: scope = true
            case .queue(let queue): scope = isName(queue)
            case .job(let job): scope = job >= 1
            }
            return scope && (watch.since ?? 0) >= 0
        case .schedulePut(let put):
            // The jobs of its slots, up to the last one a timestamp can hold, get keys a client could send.
            let lastSlotKey = Schedule.uniqueKey(name: put.name, slot: Timestamp.representable.upperBound)
            return isName(put.name) && lastSlotKey.utf8.count <= limits.maxNameBytes && isName(put.queue)
                && put.cron.description.utf8.count <= 256
                && priorities.contains(put.priority) && (1...limits.maxAttempts).contains(put.maxAttempts) && put.version >= 0
        case .scheduleGet(let name), .queueGet(let name): return isName(name)
        case .queuePut(let put):
            let limit = 1...QueueSettings.maxLimit
            return isName(put.queue) && put.version >= 0 && (put.maxRunning ?? nil).map(limit.contains) ?? true
                && (put.maxRunningPerKey ?? nil).map(limit.contains) ?? true
                && (put.rate ?? nil).map { limit.contains($0.max) && (1...QueueSettings.maxRatePerMs).contains($0.perMs) } ?? true
        case .scheduleDelete(let delete): return isName(delete.name) && delete.version >= 1
        case .purge(let purge):
            return purge.queue.map(isName) ?? true && purge.states.allSatisfy(\.isFinal) && (1...limits.maxPurge).contains(purge.limit)
                && purge.before.map { Timestamp.representable.contains($0) } ?? true
        case .backup(let path): return path.hasPrefix("/") && path.utf8.count <= 4096
        }
    }

    /// The job an enqueue creates, as the store would return it.
    static func job(_ enqueue: EnqueueRequest) -> Job {
        Job(
            id: 1, queue: enqueue.queue, state: .pending, version: 1, priority: enqueue.priority, payload: enqueue.payload,
            attempt: 0, maxAttempts: enqueue.maxAttempts, runAt: enqueue.runAt.resolve(now: now), createdAt: now,
            updatedAt: now, leaseExpiresAt: nil, worker: nil, progress: nil, result: nil, lastError: nil,
            uniqueKey: enqueue.uniqueKey, concurrencyKey: enqueue.concurrencyKey, timeoutMs: enqueue.timeoutMs,
            traceparent: enqueue.traceparent, tracestate: enqueue.tracestate)
    }

    static func checkEchoedJob(_ echoed: JSONValue?, _ enqueue: EnqueueRequest, sent: JSONObject) {
        check(echoed?["queue"] == .string(enqueue.queue), "the queue was not echoed")
        check(echoed?["payload"] == sent["payload"] ?? .null, "the payload was not echoed as sent")
        check(echoed?["unique_key"] == enqueue.uniqueKey.map(JSONValue.string) ?? .null, "the unique key was not echoed")
        check(
            echoed?["run_at"]?.string.flatMap(Timestamp.parse) == enqueue.runAt.resolve(now: now),
            "run_at reads back differently")
    }

    /// Encodes an answer and reads it back as a client would: exactly one line, valid JSON
    /// (at the depth DocketClient allows), the id echoed, and an error's fields intact.
    @discardableResult
    static func roundTrip(_ reply: Reply, id: JSONValue?) -> JSONObject {
        let bytes = ResponseEncoder.encode(id: id, reply: reply)
        guard let answer = parseLine(bytes) else { fail("an answer is not one JSON object: \(String(decoding: bytes, as: UTF8.self))") }
        check(answer["id"] == id, "the answer's id is not the request's")
        if case .failure(let error) = reply {
            check(answer["ok"] == .bool(false), "a refusal says ok")
            let sent = answer["error"]
            check(
                sent?["code"] == .string(error.code.rawValue) && sent?["message"] == .string(error.message),
                "an error's code or message reads back differently")
            if let schedule = error.schedule {
                check(sent?["schedule"]?["name"] == .string(schedule.name), "an error's schedule name reads back differently")
            }
            if let job = error.job { check(sent?["job"]?["version"] == .int(job.version), "an error's job reads back differently") }
        } else {
            check(answer["ok"] == .bool(true), "an answer says not ok")
        }
        return answer
    }

    static func parseLine(_ bytes: [UInt8]) -> JSONObject? {
        bytes.withUnsafeBufferPointer { buffer in
            let view = StreamView(base: buffer, window: 0..<buffer.count)
            guard LineFramer.nextLine(in: view, limit: Int.max - 1) == .line(length: buffer.count - 1, terminator: 1) else {
                return nil
            }
            return (try? JSONParser.parse(StreamView(base: buffer, window: 0..<buffer.count - 1), maximumDepth: 256))?.object
        }
    }
}

/// A window on the input that keeps the stream's indices and reads through a plain subscript,
/// as NIO's `ByteBufferView` does. (A `Slice` is read through a coroutine accessor that
/// allocates on every byte under AddressSanitizer, which cost more than the code under test.)
/// Reading outside the window traps, even where AddressSanitizer would see valid memory.
struct StreamView: RandomAccessCollection {
    let base: UnsafeBufferPointer<UInt8>
    let window: Range<Int>

    var startIndex: Int { window.lowerBound }
    var endIndex: Int { window.upperBound }

    subscript(position: Int) -> UInt8 {
        check(window.contains(position), "read at \(position), outside the bytes \(window) handed over")
        return base[position]
    }

    func withContiguousStorageIfAvailable<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R? {
        try body(UnsafeBufferPointer(rebasing: base[window]))
    }
}

func check(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    if !condition { fail(message(), file: file, line: line) }
}

func fail(_ message: String, file: StaticString = #fileID, line: UInt = #line) -> Never {
    fatalError("fuzz invariant broken: \(message)", file: file, line: line)
}
