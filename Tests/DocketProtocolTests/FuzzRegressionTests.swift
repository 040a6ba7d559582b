import DocketProtocol
import Testing

/// Inputs that broke something in the fuzz target's path (Sources/DocketFuzz), kept as tests.
/// Each is fed through that path: lines found by `LineFramer`, each decoded, and the answer
/// encoded and read back as a client reads it.
@Suite("Fuzz regressions")
struct FuzzRegressionTests {
    /// What the daemon makes of a byte stream: per non-blank line, the request or the refusal.
    private static func serve(_ stream: [UInt8]) -> [Result<Request, RequestDecoder.Rejection>] {
        let decoder = RequestDecoder()
        var outcomes: [Result<Request, RequestDecoder.Rejection>] = []
        var start = 0
        while start < stream.count {
            let rest = stream[start...]
            let line: ArraySlice<UInt8>
            switch LineFramer.nextLine(in: rest, limit: decoder.limits.maxLineBytes) {
            case .line(let length, let terminator):
                line = rest.prefix(length)
                start += length + terminator
            case .needMore:
                // At the end of the stream an unterminated line still counts.
                line = rest
                start = stream.count
            case .tooLarge:
                Issue.record("a line over the limit")
                return outcomes
            }
            guard !LineFramer.isBlank(line) else { continue }
            let outcome = decoder.decode(line)
            expectAnswerReadsBack(outcome)
            outcomes.append(outcome)
        }
        return outcomes
    }

    /// The answer to a line is one line of JSON that echoes the id and, for a refusal, the error.
    private static func expectAnswerReadsBack(_ outcome: Result<Request, RequestDecoder.Rejection>) {
        let id: JSONValue?
        let reply: Reply
        switch outcome {
        case .success(let request): (id, reply) = (request.id, .pong)
        case .failure(let rejection): (id, reply) = (rejection.id, .failure(rejection.error))
        }
        let bytes = ResponseEncoder.encode(id: id, reply: reply)
        #expect(LineFramer.nextLine(in: bytes, limit: Int.max - 1) == .line(length: bytes.count - 1, terminator: 1))
        let answer = try? JSONParser.parse(bytes.dropLast(), maximumDepth: 256)
        #expect(answer?["id"] == id)
        if case .failure(let error) = reply {
            #expect(answer?["error"]?["message"] == .string(error.message))
        }
    }

    private static func object(_ members: [String]) -> String {
        "{" + members.joined(separator: ",") + "}"
    }

    /// 20,000 distinct keys in one request (a 1 MiB line holds over 100,000). Duplicate keys
    /// were sought by scanning all earlier keys, n²/2 comparisons: over a minute for this line,
    /// and an event loop held for many minutes by one line at the daemon's limit.
    @Test func manyDistinctKeys_decodeInLinearTime() {
        let keys = (0..<20_000).map { #""k\#($0)":0"# }
        let line = Array(Self.object([#""op":"ping""#, #""id":7"#] + keys).utf8)
        var outcomes: [Result<Request, RequestDecoder.Rejection>] = []
        let elapsed = ContinuousClock().measure { outcomes = Self.serve(line) }
        #expect(outcomes == [.success(Request(id: 7, operation: .ping))])
        #expect(elapsed < .seconds(10))
    }

    /// A duplicate after many keys is still found, and named.
    @Test func duplicateAfterManyKeys_isRefused() throws {
        let keys = (0..<20_000).map { #""k\#($0)":0"# }
        let line = Array(Self.object([#""op":"ping""#, #""id":7"#] + keys + [#""k0":1"#]).utf8)
        let outcomes = Self.serve(line)
        #expect(outcomes.count == 1)
        guard case .failure(let rejection) = try #require(outcomes.first) else {
            Issue.record("a line with a duplicate key was accepted")
            return
        }
        #expect(rejection.id == nil)
        #expect(rejection.error.code == .badRequest)
        #expect(rejection.error.message.contains(#"duplicate key "k0""#))
    }

    /// Past the few keys compared one by one, keys are still compared byte for byte: "é"
    /// precomposed and decomposed are two keys, as JSON has it, not the one `String` sees.
    @Test func canonicallyEquivalentKeys_amongManyAreDistinct() throws {
        let keys = (0..<40).map { #""k\#($0)":0"# } + [#""\u00e9":1"#, #""e\u0301":2"#]
        let outcomes = Self.serve(Array((Self.object([#""op":"ping""#] + keys) + "\n").utf8))
        #expect(outcomes == [.success(Request(id: nil, operation: .ping))])
    }
}
