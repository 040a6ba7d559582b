import DocketProtocol

extension PostgresJobReader {
    public func logDroppedBytes(ofJob id: Int64) throws(StoreError) -> Int64 {
        try session.first("SELECT log_dropped_bytes FROM docket_jobs WHERE id = $1", [.int(id)])?.int(0) ?? 0
    }
}

extension PostgresJobStore {
    public func appendLog(_ request: LogRequest, _ context: ChangeContext) throws(StoreError) -> Job {
        latestNow = context.now
        let data = request.eventData
        let bytes = Int64(data.text.utf8.count)
        // Guarded like a transition, and holding the row until commit, but the version stays:
        // a log line changes nothing a fence protects. The state is bound for the reason
        // `guarded` gives.
        let changed = try session.first(
            """
            UPDATE docket_jobs SET log_bytes = log_bytes + $3 WHERE id = $1 AND version = $2 AND state = $4
            RETURNING log_bytes
            """, [.int(request.fence.job), .int(request.fence.version), .int(bytes), .text("running")])
        guard let stored = try storedJob(request.fence.job) else { throw .jobNotFound(request.fence.job) }
        guard let kept = changed?.int(0) else {
            if stored.job.version != request.fence.version { throw .staleVersion(stored.job.reference, expected: request.fence.version) }
            throw .invalidState(stored.job.reference, operation: "log", allowed: [.running])
        }
        record(.log, stored.job, context, data: data)
        if kept > LogRequest.maxBytesPerJob { try trimLog(ofJob: stored.job.id, kept: kept) }
        return stored.job
    }

    /// Drops the oldest log events until the rest fit under the cap. The new line's event is
    /// stored at commit (see `commit`), so it is never among those dropped here.
    private func trimLog(ofJob id: Int64, kept: Int64) throws(StoreError) {
        var dropped: Int64 = 0
        var lastDropped: Int64 = 0
        for row in try session.run(
            "SELECT seq, octet_length(data)::int8 FROM docket_events WHERE job = $1 AND type = 'log' ORDER BY seq", [.int(id)])
        {
            guard kept - dropped > LogRequest.maxBytesPerJob else { break }
            let r = row.makeRandomAccess()
            lastDropped = r.int(0)
            dropped += r.int(1)
        }
        guard dropped > 0 else { return }
        try session.send("DELETE FROM docket_events WHERE job = $1 AND type = 'log' AND seq <= $2", [.int(id), .int(lastDropped)])
        try session.send(
            "UPDATE docket_jobs SET log_bytes = log_bytes - $2, log_dropped_bytes = log_dropped_bytes + $2 WHERE id = $1",
            [.int(id), .int(dropped)])
    }
}
