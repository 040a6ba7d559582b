extension RequestDecoder {
    /// `queue_put`: a member left out keeps its stored value, `null` clears a limit.
    func decodeQueuePut(_ f: Fields) throws(ProtocolError) -> QueuePutRequest {
        let queue = try f.name("queue")
        guard f.object["version"] != nil else {
            throw .badRequest(
                "field 'version' is missing: send 0 to create the queue's settings, or the version you last saw to change them")
        }
        let limit = 1...QueueSettings.maxLimit
        return QueuePutRequest(
            queue: queue, version: try f.int("version", in: 0...Int64.max), paused: try f.optionalBool("paused"),
            maxRunning: try f.clearable("max_running") { (f: Fields) throws(ProtocolError) in try f.int("max_running", in: limit) },
            maxRunningPerKey: try f.clearable("max_running_per_key") { (f: Fields) throws(ProtocolError) in
                try f.int("max_running_per_key", in: limit)
            },
            rate: try f.clearable("rate") { (f: Fields) throws(ProtocolError) in try f.rate() })
    }
}

extension Fields {
    /// `after`: distinct job ids, at most `limits.maxDependencies`.
    func jobIDs(_ key: String) throws(ProtocolError) -> [Int64] {
        guard let value = object[key], !value.isNull else { return [] }
        guard case .array(let items) = value, items.count <= limits.maxDependencies else {
            throw .badRequest("field '\(prefix)\(key)' must be an array of at most \(limits.maxDependencies) job ids")
        }
        var ids: [Int64] = []
        for item in items {
            guard case .number(let text) = item, let id = Int64(text), id >= 1 else {
                throw .badRequest("field '\(prefix)\(key)' must hold job ids (integers from 1)")
            }
            if !ids.contains(id) { ids.append(id) }
        }
        return ids
    }

    /// `after_index` of item `index` of `jobs`: indexes of earlier items, so a request's
    /// graph has no cycle.
    func afterIndex(before index: Int) throws(ProtocolError) -> [Int] {
        guard let value = object["after_index"], !value.isNull else { return [] }
        let message = "field '\(prefix)after_index' must be an array of indexes of earlier items of 'jobs' (0 to \(index - 1))"
        guard case .array(let items) = value else { throw .badRequest(message) }
        var indexes: [Int] = []
        for item in items {
            guard case .number(let text) = item, let earlier = Int(text), (0..<index).contains(earlier) else {
                throw .badRequest(index == 0 ? "field '\(prefix)after_index' names no earlier item: this is the first" : message)
            }
            if !indexes.contains(earlier) { indexes.append(earlier) }
        }
        return indexes
    }

    /// A member that may be left out (nil: keep), `null` (clear) or a value.
    func clearable<T>(_ key: String, _ value: (Fields) throws(ProtocolError) -> T) throws(ProtocolError) -> T?? {
        guard let member = object[key] else { return nil }
        if member.isNull { return .some(nil) }
        return .some(try value(self))
    }

    /// `rate`: `{"max": n, "per_ms": ms}`, both required.
    func rate() throws(ProtocolError) -> RateLimit {
        guard case .object(let inner)? = object["rate"] else {
            throw .badRequest("field '\(prefix)rate' must be an object {\"max\": n, \"per_ms\": ms} or null")
        }
        let r = Fields(object: inner, limits: limits, prefix: prefix + "rate.")
        return RateLimit(
            max: try r.int("max", in: 1...QueueSettings.maxLimit), perMs: try r.int("per_ms", in: 1...QueueSettings.maxRatePerMs))
    }
}
