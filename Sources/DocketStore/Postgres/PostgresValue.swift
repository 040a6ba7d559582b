import NIOCore
import PostgresNIO

// Values bound to statements and cells read from rows, in the types the statements use.

extension PostgresRandomAccessRow {
    func int(_ index: Int) -> Int64 { (try? cell(index).decode(Int64.self)) ?? 0 }
    func optionalInt(_ index: Int) -> Int64? { (try? cell(index).decode(Int64?.self)) ?? nil }
    func text(_ index: Int) -> String { (try? cell(index).decode(String.self)) ?? "" }
    func optionalText(_ index: Int) -> String? { (try? cell(index).decode(String?.self)) ?? nil }
    func bool(_ index: Int) -> Bool { (try? cell(index).decode(Bool.self)) ?? false }
    /// A bigint[] column; NULL is none.
    func ids(_ index: Int) -> [Int64] { ((try? cell(index).decode([Int64]?.self)) ?? nil) ?? [] }

    /// Results always arrive in binary, which postgres-nio asks for in every Bind; but the
    /// rows of a `PreparedQuery` carry the text format that the statement's Describe
    /// reported, and would be decoded as text.
    private func cell(_ index: Int) -> PostgresCell {
        var cell = self[index]
        cell.format = .binary
        return cell
    }
}

/// Bindings built from a list, as the statements here take them.
extension PostgresBindings {
    init(_ values: [PostgresValue]) {
        self.init(capacity: values.count)
        for value in values {
            if let encodable = value.encodable { append(encodable) } else { appendNull() }
        }
    }
}

/// A value bound to a statement parameter.
enum PostgresValue {
    case int(Int64)
    case text(String)
    case optionalInt(Int64?)
    case optionalText(String?)
    case bool(Bool)
    case textArray([String])
    case intArray([Int64])
    /// A text[] whose elements may be NULL (postgres-nio encodes no arrays of optionals).
    case optionalTextArray([String?])

    /// The parameter's type as SQL spells it (see `PostgresSession.typed`).
    var typeName: String {
        switch self {
        case .int, .optionalInt: "int8"
        case .text, .optionalText: "text"
        case .bool: "bool"
        case .textArray, .optionalTextArray: "text[]"
        case .intArray: "int8[]"
        }
    }

    /// The value as `PreparedQuery.execute` takes it.
    var data: PostgresData {
        guard let encodable else { return .null }
        var buffer = ByteBuffer()
        encodable.encode(into: &buffer, context: .default)
        return PostgresData(type: encodable.psqlType, formatCode: encodable.psqlFormat, value: buffer)
    }

    /// The value as postgres-nio encodes it; nil for NULL.
    fileprivate var encodable: (any PostgresNonThrowingEncodable)? {
        switch self {
        case .int(let number): number
        case .text(let text): text
        case .optionalInt(let number): number
        case .optionalText(let text): text
        case .bool(let flag): flag
        case .textArray(let texts): texts
        case .intArray(let numbers): numbers
        case .optionalTextArray(let texts): OptionalTexts(elements: texts)
        }
    }
}

/// A one-dimensional text[] with NULL elements, in PostgreSQL's binary array format.
struct OptionalTexts: PostgresNonThrowingEncodable {
    static var psqlType: PostgresDataType { .textArray }
    static var psqlFormat: PostgresFormat { .binary }
    var elements: [String?]

    func encode<JSONEncoder: PostgresJSONEncoder>(into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        buffer.writeInteger(elements.isEmpty ? 0 : 1, as: Int32.self)  // dimensions
        buffer.writeInteger(elements.contains(nil) ? 1 : 0, as: Int32.self)  // has NULLs
        buffer.writeInteger(PostgresDataType.text.rawValue)
        guard !elements.isEmpty else { return }
        buffer.writeInteger(Int32(elements.count))
        buffer.writeInteger(1, as: Int32.self)  // lower bound
        for element in elements {
            guard let element else {
                buffer.writeInteger(-1, as: Int32.self)
                continue
            }
            buffer.writeInteger(Int32(element.utf8.count))
            buffer.writeString(element)
        }
    }
}
