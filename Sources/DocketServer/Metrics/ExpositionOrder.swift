/// Puts the registry's exposition in a stable order: families as `MetricCatalogue` lists them,
/// and each family's series by their labels.
///
/// swift-prometheus emits families and series in hash order, which changes from one start to
/// the next. Prometheus does not mind, but a person reading `docket metrics` twice, or a diff
/// of two scrapes, does.
enum ExpositionOrder {
    static func sorted(_ text: String) -> String {
        var families: [Substring: [Substring]] = [:]
        var family: Substring = ""
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# HELP ") { family = line.dropFirst(7).prefix { $0 != " " } }
            families[family, default: []].append(line)
        }
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for spec in MetricCatalogue.all {
            guard let lines = families[Substring(spec.name)] else { continue }
            for line in sortedSeries(lines) {
                out += line
                out += "\n"
            }
        }
        return out
    }

    /// `# HELP` and `# TYPE` first, then the series by label set; a histogram's lines for one
    /// label set (buckets, sum, count) stay together and in their order.
    private static func sortedSeries(_ lines: [Substring]) -> [Substring] {
        let comments = lines.prefix { $0.hasPrefix("#") }
        var runs: [(key: Substring, lines: [Substring])] = []
        for line in lines.dropFirst(comments.count) {
            let key = labels(of: line)
            if runs.last?.key == key { runs[runs.count - 1].lines.append(line) } else { runs.append((key, [line])) }
        }
        return Array(comments) + runs.sorted { $0.key < $1.key }.flatMap(\.lines)
    }

    /// The series' labels as written, less a histogram bucket's `le` (always the last label,
    /// and its number never holds `le="`, so the last occurrence is the one).
    private static func labels(of line: Substring) -> Substring {
        guard let open = line.firstIndex(of: "{"), let close = line.lastIndex(of: "}") else { return "" }
        let inside = line[line.index(after: open)..<close]
        guard line[..<open].hasSuffix("_bucket") else { return inside }
        var end = inside.endIndex
        while end > inside.startIndex {
            end = inside.index(before: end)
            if inside[end...].hasPrefix("le=\""), end == inside.startIndex || inside[inside.index(before: end)] == "," {
                return inside[..<(end == inside.startIndex ? end : inside.index(before: end))]
            }
        }
        return inside
    }
}
