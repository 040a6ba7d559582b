import DocketProtocol
import DocketTestSupport
import Foundation
import Testing

/// One line of `protocol/vectors.jsonl`.
struct Vector {
    let name: String
    let line: [UInt8]
    let expect: JSONValue

    init(_ value: JSONValue) throws {
        name = value["name"]?.string ?? "?"
        if let send = value["send"] {
            line = Array(JSONWriter.text(of: send).utf8)
        } else if let raw = value["send_raw"]?.string {
            line = Array(raw.utf8)
        } else if let hex = value["send_hex"]?.string {
            var bytes: [UInt8] = []
            var index = hex.startIndex
            while index < hex.endIndex {
                let next = hex.index(index, offsetBy: 2)
                bytes.append(try #require(UInt8(hex[index..<next], radix: 16)))
                index = next
            }
            line = bytes
        } else {
            throw DaemonFailure("vector \(name) has nothing to send")
        }
        expect = value["expect"] ?? .null
    }

    static func load() throws -> [Vector] {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("protocol/vectors.jsonl")
        let text = try String(contentsOf: file, encoding: .utf8)
        return try text.split(separator: "\n").filter { !$0.allSatisfy(\.isWhitespace) }.map {
            try Vector(JSONParser.parse(String($0)))
        }
    }
}

extension JSONValue {
    /// Equality of JSON values, with numbers compared by value (`1.5` is `1.50`).
    func sameValue(as other: JSONValue) -> Bool {
        switch (self, other) {
        case (.number(let a), .number(let b)): return a == b || (Double(a) != nil && Double(a) == Double(b))
        case (.array(let a), .array(let b)): return a.count == b.count && zip(a, b).allSatisfy { $0.sameValue(as: $1) }
        case (.object(let a), .object(let b)):
            return a.members.count == b.members.count
                && a.members.allSatisfy { member in b[member.key].map { member.value.sameValue(as: $0) } ?? false }
        default: return self == other
        }
    }

    /// The value at a dotted path: object keys, array indexes.
    func at(_ path: String) -> JSONValue? {
        var current: JSONValue? = self
        for part in path.split(separator: ".") {
            if let index = Int(part), let array = current?.array {
                current = index < array.count ? array[index] : nil
            } else {
                current = current?[String(part)]
            }
        }
        return current
    }
}

@Suite("End to end: protocol/vectors.jsonl")
struct VectorEndToEndTests {
    /// Every vector, replayed in order on one connection to a fresh daemon, gets the answer
    /// its file says.
    @Test(arguments: Backend.available) func vectors_matchTheDaemon(_ backend: Backend) async throws {
        let vectors = try Vector.load()
        #expect(vectors.count >= 50)
        let daemon = try await Daemon(backend)
        let socket = try RawSocket(path: daemon.socketPath)
        for vector in vectors {
            try await socket.send(vector.line + [UInt8(ascii: "\n")])
            let line = try #require(try await socket.readLine(), "no answer to \(vector.name)")
            let answer = try JSONParser.parse(line, maximumDepth: 256)
            let expect = vector.expect
            #expect(answer["ok"] == expect["ok"], "\(vector.name): \(line)")
            if let code = expect["code"] {
                #expect(answer.at("error.code") == code, "\(vector.name): \(line)")
            }
            for member in expect["fields"]?.object?.members ?? [] {
                #expect(answer.at(member.key)?.sameValue(as: member.value) == true, "\(vector.name): \(member.key) in \(line)")
            }
            for path in expect["present"]?.array?.compactMap(\.string) ?? [] {
                #expect(answer.at(path) != nil, "\(vector.name): \(path) missing in \(line)")
            }
            for path in expect["absent"]?.array?.compactMap(\.string) ?? [] {
                #expect(answer.at(path) == nil, "\(vector.name): \(path) present in \(line)")
            }
        }
    }
}
