/// A plain text table: a header row and aligned columns two spaces apart, like `ps` and
/// `kubectl get`, so it reads on a terminal and still splits on whitespace.
struct Table {
    struct Cell {
        var text: String
        var style: Style = .plain
    }

    let headers: [String]
    private(set) var rows: [[Cell]] = []

    init(_ headers: String...) {
        self.headers = headers
    }

    init(headers: [String]) {
        self.headers = headers
    }

    mutating func add(_ cells: [Cell]) {
        rows.append(cells)
    }

    mutating func add(_ texts: String...) {
        rows.append(texts.map { Cell(text: $0) })
    }

    func render() -> [String] {
        var widths = headers.map(\.count)
        for row in rows {
            for (column, cell) in row.enumerated() where column < widths.count {
                widths[column] = max(widths[column], cell.text.count)
            }
        }
        func line(_ cells: [Cell]) -> String {
            var out = ""
            for (column, cell) in cells.enumerated() {
                let isLast = column == cells.count - 1
                // Padding is computed on the plain text: escape codes take no columns.
                let padding = isLast ? "" : String(repeating: " ", count: widths[column] - cell.text.count + 2)
                out += cell.style.apply(cell.text) + padding
            }
            return out.trailingSpacesRemoved
        }
        return [line(headers.map { Cell(text: $0, style: .bold) })] + rows.map(line)
    }

    func print() {
        for line in render() { Console.line(line) }
    }
}
