import DocketProtocol

extension SQLiteJobReader {
    public func logDroppedBytes(ofJob id: Int64) throws(StoreError) -> Int64 {
        try db.scalar("SELECT log_dropped_bytes FROM jobs WHERE id = ?1", [.int(id)]) ?? 0
    }
}

extension SQLiteJobStore {
    public func appendLog(_ request: LogRequest, _ context: ChangeContext) throws(StoreError) -> Job {
        let data = request.eventData
        let bytes = Int64(data.text.utf8.count)
        // Guarded like a transition, but the version stays: a log line changes nothing a
        // fence protects.
        try db.prepare("UPDATE jobs SET log_bytes = log_bytes + ?3 WHERE id = ?1 AND version = ?2 AND state = 'running'")
            .run([.int(request.fence.job), .int(request.fence.version), .int(bytes)])
        let changed = db.changes == 1
        guard let stored = try storedJob(request.fence.job) else { throw .jobNotFound(request.fence.job) }
        guard changed else {
            if stored.job.version != request.fence.version { throw .staleVersion(stored.job.reference, expected: request.fence.version) }
            throw .invalidState(stored.job.reference, operation: "log", allowed: [.running])
        }
        try record(.log, stored.job, context, data: data)
        try trimLog(ofJob: stored.job.id)
        return stored.job
    }

    /// Drops the oldest log events until the rest fit under the cap.
    private func trimLog(ofJob id: Int64) throws(StoreError) {
        guard let kept = try db.scalar("SELECT log_bytes FROM jobs WHERE id = ?1", [.int(id)]), kept > LogRequest.maxBytesPerJob
        else { return }
        let oldest = try db.prepare(
            "SELECT seq, length(CAST(data AS BLOB)) FROM events WHERE job = ?1 AND type = 'log' ORDER BY seq")
        oldest.bind(1, id)
        var dropped: Int64 = 0
        var lastDropped: Int64 = 0
        while kept - dropped > LogRequest.maxBytesPerJob, try oldest.step() {
            lastDropped = oldest.int(0)
            dropped += oldest.int(1)
        }
        oldest.reset()
        try db.prepare("DELETE FROM events WHERE job = ?1 AND type = 'log' AND seq <= ?2").run([.int(id), .int(lastDropped)])
        try db.prepare("UPDATE jobs SET log_bytes = log_bytes - ?2, log_dropped_bytes = log_dropped_bytes + ?2 WHERE id = ?1")
            .run([.int(id), .int(dropped)])
    }
}
