extension Duration {
    /// Whole milliseconds, as the protocol's `*_ms` members carry durations (rounded down).
    var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
