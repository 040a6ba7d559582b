import ArgumentParser
import DocketProtocol

#if canImport(Glibc)
import Glibc
#endif

/// A JSON value given on the command line: as an argument, `-` for standard input, or
/// `--file PATH`.
///
/// Text that parses as JSON is that JSON; other text is a string, so `docket enqueue q hello`
/// and `docket complete 5 --version 3 done` need no quoting. Text that starts like an object or
/// array but does not parse is refused: it is a typo, not a string.
enum JSONInput {
    static func read(argument: String?, file: String?, what: String) throws -> JSONValue? {
        guard argument == nil || file == nil else { throw ValidationError("give the \(what) as an argument or with --file, not both") }
        return try readText(argument: argument, file: file).map { try parse($0, what: what) }
    }

    /// The text itself: the argument, standard input for `-`, or the file's contents.
    static func readText(argument: String?, file: String?) throws -> String? {
        if argument == "-" { return try readAll(descriptor: 0, name: "standard input") }
        if let path = file { return try readFile(path) }
        return argument
    }

    /// JSON if the text parses (around its trailing newline), else the text as a string.
    static func parse(_ text: String, what: String) throws -> JSONValue {
        do {
            return try JSONParser.parse(text)
        } catch {
            let trimmed = text.drop { $0 == " " || $0 == "\n" || $0 == "\t" }
            if trimmed.first == "{" || trimmed.first == "[" {
                throw ValidationError("the \(what) starts like JSON but is not: \(error.message) at byte \(error.offset)")
            }
            return .string(text)
        }
    }

    static func readFile(_ path: String) throws -> String {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw CommandFailure(.failure, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        return try readAll(descriptor: descriptor, name: path)
    }

    static func readAll(descriptor: Int32, name: String) throws -> String {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw CommandFailure(.failure, "cannot read \(name): \(String(cString: strerror(errno)))") }
            if count == 0 { return String(decoding: bytes, as: UTF8.self) }
            bytes += chunk[..<count]
        }
    }
}
