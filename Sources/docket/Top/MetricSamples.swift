/// The samples of a `metrics` answer, for `docket top`: only what it shows (job counts by
/// queue and state, queue lag, connections, parked claims) is looked up.
struct MetricSamples {
    struct Sample {
        var name: Substring
        var labels: [(Substring, String)]
        var value: Double
    }

    private(set) var samples: [Sample] = []

    /// Reads the text format's sample lines; comments and lines it cannot read are skipped
    /// (a newer daemon may add metrics; `docket top` needs only its own).
    init(_ text: String) {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            if let sample = Self.sample(line) { samples.append(sample) }
        }
    }

    /// `(queue, value)` of every sample of `name` whose other labels match `where`.
    func byQueue(_ name: String, where filter: [(Substring, String)] = []) -> [String: Double] {
        var result: [String: Double] = [:]
        for sample in samples where sample.name == name {
            guard filter.allSatisfy({ wanted in sample.labels.contains { $0 == wanted.0 && $1 == wanted.1 } }),
                let queue = sample.labels.first(where: { $0.0 == "queue" })?.1
            else { continue }
            result[queue] = sample.value
        }
        return result
    }

    func value(_ name: String) -> Double? {
        samples.first { $0.name == name && $0.labels.isEmpty }?.value
    }

    private static func sample(_ line: Substring) -> Sample? {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { return nil }
        let series = line[..<space]
        guard let open = series.firstIndex(of: "{") else { return Sample(name: series, labels: [], value: value) }
        guard series.last == "}" else { return nil }
        return labels(series[series.index(after: open)..<series.index(before: series.endIndex)])
            .map { Sample(name: series[..<open], labels: $0, value: value) }
    }

    /// `a="x",b="y \"quoted\""` → pairs, with the text format's escapes undone.
    private static func labels(_ text: Substring) -> [(Substring, String)]? {
        var pairs: [(Substring, String)] = []
        var rest = text
        while !rest.isEmpty {
            guard let equals = rest.firstIndex(of: "="), rest[rest.index(after: equals)...].first == "\"" else { return nil }
            let name = rest[..<equals]
            var value = ""
            var index = rest.index(equals, offsetBy: 2)
            var escaped = false
            while index < rest.endIndex {
                let character = rest[index]
                if escaped {
                    value.append(character == "n" ? "\n" : character)
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == "\"" {
                    break
                } else {
                    value.append(character)
                }
                index = rest.index(after: index)
            }
            guard index < rest.endIndex else { return nil }
            pairs.append((name, value))
            rest = rest[rest.index(after: index)...]
            if rest.first == "," { rest = rest.dropFirst() }
        }
        return pairs
    }
}
