/// Encodes replies as response lines (`\n`-terminated compact JSON).
public enum ResponseEncoder {
    /// `fields`: the job members to write (`id` and `version` always).
    public static func encode(id: JSONValue?, reply: Reply, fields: JobFields = .all) -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 512)
        w.beginObject()
        if let id {
            w.key("id")
            w.value(id)
        }
        if case .failure(let error) = reply {
            w.key("ok")
            w.bool(false)
            w.key("error")
            writeError(&w, error)
        } else {
            w.key("ok")
            w.bool(true)
            writeBody(&w, reply, fields)
        }
        w.endObject()
        var bytes = w.bytes
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    static func writeBody(_ w: inout JSONWriter, _ reply: Reply, _ fields: JobFields) {
        switch reply {
        case .pong, .done, .failure:
            break
        case .backedUp(let path, let bytes):
            w.key("path")
            w.string(path)
            w.key("bytes")
            w.int(bytes)
        case .purged(let count):
            w.key("purged")
            w.int(count)
        case .metrics(let text):
            w.key("text")
            w.string(text)
        case .watching(let seq):
            w.key("seq")
            w.int(seq)
        case .schedule(let schedule):
            w.key("schedule")
            writeSchedule(&w, schedule)
        case .schedules(let schedules):
            w.key("schedules")
            w.beginArray()
            for schedule in schedules { writeSchedule(&w, schedule) }
            w.endArray()
        case .hello(let info):
            w.key("server")
            w.beginObject()
            w.key("name")
            w.string(info.name)
            w.key("version")
            w.string(info.version)
            w.endObject()
            w.key("protocol")
            w.int(1)
            w.key("limits")
            w.beginObject()
            w.key("max_line_bytes")
            w.int(Int64(info.limits.maxLineBytes))
            w.key("max_lease_ms")
            w.int(info.limits.maxLeaseMs)
            w.key("max_wait_ms")
            w.int(info.limits.maxWaitMs)
            w.endObject()
            w.key("store")
            w.string(info.store)
        case .job(let job):
            w.key("job")
            writeJob(&w, job, fields)
        case .enqueuedMany(let results):
            w.key("jobs")
            w.beginArray()
            for result in results { writeJob(&w, result.job, fields) }
            w.endArray()
            w.key("created")
            w.beginArray()
            for result in results { w.bool(result.created) }
            w.endArray()
        case .enqueued(let job, let created):
            w.key("job")
            writeJob(&w, job, fields)
            w.key("created")
            w.bool(created)
        case .claimed(let job):
            w.key("job")
            if let job { writeJob(&w, job, fields) } else { w.null() }
        case .claimHeld(let retryAfterMs):
            w.key("job")
            w.null()
            w.key("retry_after_ms")
            w.int(retryAfterMs)
        case .queue(let queue):
            w.key("queue")
            writeQueue(&w, queue)
        case .queues(let queues):
            w.key("queues")
            w.beginArray()
            for queue in queues { writeQueue(&w, queue) }
            w.endArray()
        case .found(let job, let events):
            w.key("job")
            writeJob(&w, job, fields)
            if let events {
                w.key("events")
                w.beginArray()
                for event in events { writeEventBody(&w, event) }
                w.endArray()
            }
        case .foundWithLog(let job, let events, let dropped):
            writeBody(&w, .found(job, events: events), fields)
            w.key("log_dropped_bytes")
            w.int(dropped)
        case .listed(let jobs, let next):
            w.key("jobs")
            w.beginArray()
            for job in jobs { writeJob(&w, job, fields) }
            w.endArray()
            w.key("next")
            if let next { w.int(next) } else { w.null() }
        case .stats(let stats):
            w.key("queues")
            w.beginObject()
            for entry in stats.queues {
                w.key(entry.queue)
                w.beginObject()
                for count in entry.counts {
                    w.key(count.state.rawValue)
                    w.int(count.count)
                }
                w.endObject()
            }
            w.endObject()
            w.key("connections")
            w.int(Int64(stats.connections))
            w.key("waiting_claims")
            w.int(Int64(stats.waitingClaims))
            w.key("uptime_ms")
            w.int(stats.uptimeMs)
        }
    }

    static func writeError(_ w: inout JSONWriter, _ error: ProtocolError) {
        w.beginObject()
        w.key("code")
        w.string(error.code.rawValue)
        w.key("message")
        w.string(error.message)
        if let job = error.job {
            w.key("job")
            w.beginObject()
            w.key("id")
            w.int(job.id)
            w.key("version")
            w.int(job.version)
            w.key("state")
            w.string(job.state.rawValue)
            w.endObject()
        }
        if let seq = error.seq {
            w.key("seq")
            w.int(seq)
        }
        if let schedule = error.schedule {
            w.key("schedule")
            writeNameAndVersion(&w, schedule.name, schedule.version)
        }
        if let queue = error.queue {
            w.key("queue")
            writeNameAndVersion(&w, queue.name, queue.version)
        }
        w.endObject()
    }

    private static func writeNameAndVersion(_ w: inout JSONWriter, _ name: String, _ version: Int64) {
        w.beginObject()
        w.key("name")
        w.string(name)
        w.key("version")
        w.int(version)
        w.endObject()
    }

    public static func writeSchedule(_ w: inout JSONWriter, _ schedule: Schedule) {
        w.beginObject()
        w.key("name")
        w.string(schedule.name)
        w.key("cron")
        w.string(schedule.cron.description)
        w.key("queue")
        w.string(schedule.queue)
        w.key("payload")
        w.raw(schedule.payload)
        w.key("priority")
        w.int(schedule.priority)
        w.key("max_attempts")
        w.int(schedule.maxAttempts)
        w.key("paused")
        w.bool(schedule.paused)
        w.key("version")
        w.int(schedule.version)
        w.key("next_run_at")
        w.timestamp(milliseconds: schedule.nextRunAt)
        w.key("last_run_at")
        if let last = schedule.lastRunAt { w.timestamp(milliseconds: last) } else { w.null() }
        w.key("created_at")
        w.timestamp(milliseconds: schedule.createdAt)
        w.key("updated_at")
        w.timestamp(milliseconds: schedule.updatedAt)
        w.endObject()
    }

    /// A watch line: `{"event": {…}}`, newline-terminated.
    public static func encodeEventLine(_ event: JobEvent) -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 256)
        w.beginObject()
        w.key("event")
        writeEventBody(&w, event)
        w.endObject()
        var bytes = w.bytes
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    public static func writeJob(_ w: inout JSONWriter, _ job: Job, _ fields: JobFields = .all) {
        w.beginObject()
        w.key("id")
        w.int(job.id)
        if fields.contains(.queue) {
            w.key("queue")
            w.string(job.queue)
        }
        if fields.contains(.state) {
            w.key("state")
            w.string(job.state.rawValue)
        }
        w.key("version")
        w.int(job.version)
        if fields.contains(.priority) {
            w.key("priority")
            w.int(job.priority)
        }
        if fields.contains(.payload) {
            w.key("payload")
            w.raw(job.payload)
        }
        if fields.contains(.attempt) {
            w.key("attempt")
            w.int(job.attempt)
        }
        if fields.contains(.maxAttempts) {
            w.key("max_attempts")
            w.int(job.maxAttempts)
        }
        if fields.contains(.runAt) {
            w.key("run_at")
            w.timestamp(milliseconds: job.runAt)
        }
        if fields.contains(.createdAt) {
            w.key("created_at")
            w.timestamp(milliseconds: job.createdAt)
        }
        if fields.contains(.updatedAt) {
            w.key("updated_at")
            w.timestamp(milliseconds: job.updatedAt)
        }
        if fields.contains(.leaseExpiresAt) {
            w.key("lease_expires_at")
            if let lease = job.leaseExpiresAt { w.timestamp(milliseconds: lease) } else { w.null() }
        }
        if fields.contains(.worker) {
            w.key("worker")
            if let worker = job.worker { w.string(worker) } else { w.null() }
        }
        if fields.contains(.progress) {
            w.key("progress")
            w.raw(job.progress ?? .null)
        }
        if fields.contains(.result) {
            w.key("result")
            w.raw(job.result ?? .null)
        }
        if fields.contains(.lastError) {
            w.key("last_error")
            w.raw(job.lastError ?? .null)
        }
        if fields.contains(.uniqueKey) {
            w.key("unique_key")
            if let key = job.uniqueKey { w.string(key) } else { w.null() }
        }
        if fields.contains(.concurrencyKey) {
            w.key("concurrency_key")
            if let key = job.concurrencyKey { w.string(key) } else { w.null() }
        }
        if fields.contains(.timeoutMs) {
            w.key("timeout_ms")
            if let timeout = job.timeoutMs { w.int(timeout) } else { w.null() }
        }
        if fields.contains(.traceparent) {
            w.key("traceparent")
            if let traceparent = job.traceparent { w.string(traceparent) } else { w.null() }
        }
        if fields.contains(.tracestate) {
            w.key("tracestate")
            if let tracestate = job.tracestate { w.string(tracestate) } else { w.null() }
        }
        if fields.contains(.after) {
            w.key("after")
            writeIDs(&w, job.after)
        }
        if fields.contains(.waitingFor) {
            w.key("waiting_for")
            writeIDs(&w, job.waitingFor)
        }
        w.endObject()
    }

    private static func writeIDs(_ w: inout JSONWriter, _ ids: [Int64]) {
        w.beginArray()
        for id in ids { w.int(id) }
        w.endArray()
    }

    /// The `{"seq", "at", …}` object of an event, as in `get` and inside watch lines.
    public static func writeEventBody(_ w: inout JSONWriter, _ event: JobEvent) {
        w.beginObject()
        w.key("seq")
        w.int(event.seq)
        w.key("at")
        w.timestamp(milliseconds: event.at)
        w.key("job")
        w.int(event.job)
        w.key("queue")
        w.string(event.queue)
        w.key("type")
        w.string(event.kind.rawValue)
        w.key("version")
        w.int(event.version)
        w.key("state")
        w.string(event.state.rawValue)
        w.key("data")
        w.raw(event.data ?? .null)
        w.key("peer")
        if let peer = event.peer { w.string(peer) } else { w.null() }
        w.endObject()
    }
}
