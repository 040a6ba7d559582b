extension ResponseEncoder {
    /// The queue object: settings, version and job counts.
    public static func writeQueue(_ w: inout JSONWriter, _ queue: QueueInfo) {
        let settings = queue.settings
        w.beginObject()
        w.key("name")
        w.string(settings.name)
        w.key("paused")
        w.bool(settings.paused)
        w.key("max_running")
        if let limit = settings.maxRunning { w.int(limit) } else { w.null() }
        w.key("max_running_per_key")
        if let limit = settings.maxRunningPerKey { w.int(limit) } else { w.null() }
        w.key("rate")
        if let rate = settings.rate {
            w.beginObject()
            w.key("max")
            w.int(rate.max)
            w.key("per_ms")
            w.int(rate.perMs)
            w.endObject()
        } else {
            w.null()
        }
        w.key("version")
        w.int(settings.version)
        w.key("counts")
        w.beginObject()
        for state in JobState.allCases {
            guard let count = queue.counts[state] else { continue }
            w.key(state.rawValue)
            w.int(count)
        }
        w.endObject()
        w.endObject()
    }
}
