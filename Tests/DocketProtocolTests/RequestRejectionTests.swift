import DocketProtocol
import Testing

@Suite("RequestDecoder: rejections and limits")
struct RequestRejectionTests {
    // MARK: Rejections

    /// Every malformed request is rejected with the right code and a message naming the field at fault.
    @Test(arguments: [
        // Not JSON, not an object.
        ("not json", ErrorCode.badRequest, "invalid JSON"),
        ("", .badRequest, "invalid JSON"),
        (#"{"op":"ping"} x"#, .badRequest, "invalid JSON"),
        (#"{"op":"ping","op":"ping"}"#, .badRequest, "duplicate key"),
        ("[1]", .badRequest, "JSON object"),
        (#""ping""#, .badRequest, "JSON object"),
        ("null", .badRequest, "JSON object"),
        ("42", .badRequest, "JSON object"),
        // op.
        ("{}", .badRequest, "'op'"),
        (#"{"op":1}"#, .badRequest, "'op'"),
        (#"{"op":null}"#, .badRequest, "'op'"),
        (#"{"op":["ping"]}"#, .badRequest, "'op'"),
        (#"{"op":"frobnicate"}"#, .unknownOp, "frobnicate"),
        (#"{"op":"PING"}"#, .unknownOp, "PING"),
        (#"{"op":""}"#, .unknownOp, "unknown op"),
        // hello.
        (#"{"op":"hello","client":5}"#, .badRequest, "'client'"),
        // enqueue.
        (#"{"op":"enqueue"}"#, .badRequest, "'queue'"),
        (#"{"op":"enqueue","queue":null}"#, .badRequest, "'queue'"),
        (#"{"op":"enqueue","queue":1}"#, .badRequest, "'queue'"),
        (#"{"op":"enqueue","queue":["q"]}"#, .badRequest, "'queue'"),
        (#"{"op":"enqueue","queue":""}"#, .badRequest, "'queue'"),
        (#"{"op":"enqueue","queue":"a\u0001"}"#, .badRequest, "'queue'"),
        (#"{"op":"enqueue","queue":"a\nb"}"#, .badRequest, "'queue'"),
        (#"{"op":"enqueue","queue":"a\u007f"}"#, .badRequest, "'queue'"),
        (#"{"op":"enqueue","queue":"q","priority":"1"}"#, .badRequest, "'priority'"),
        (#"{"op":"enqueue","queue":"q","priority":true}"#, .badRequest, "'priority'"),
        (#"{"op":"enqueue","queue":"q","priority":2147483648}"#, .badRequest, "'priority'"),
        (#"{"op":"enqueue","queue":"q","priority":-2147483649}"#, .badRequest, "'priority'"),
        (#"{"op":"enqueue","queue":"q","priority":1.5}"#, .badRequest, "'priority'"),
        (#"{"op":"enqueue","queue":"q","priority":1.0}"#, .badRequest, "'priority'"),
        (#"{"op":"enqueue","queue":"q","priority":1e2}"#, .badRequest, "'priority'"),
        (#"{"op":"enqueue","queue":"q","max_attempts":0}"#, .badRequest, "'max_attempts'"),
        (#"{"op":"enqueue","queue":"q","max_attempts":1001}"#, .badRequest, "'max_attempts'"),
        (#"{"op":"enqueue","queue":"q","max_attempts":"3"}"#, .badRequest, "'max_attempts'"),
        (#"{"op":"enqueue","queue":"q","delay_ms":-1}"#, .badRequest, "'delay_ms'"),
        (#"{"op":"enqueue","queue":"q","delay_ms":315360000001}"#, .badRequest, "'delay_ms'"),
        (#"{"op":"enqueue","queue":"q","delay_ms":2.5}"#, .badRequest, "'delay_ms'"),
        (#"{"op":"enqueue","queue":"q","run_at":"tomorrow"}"#, .badRequest, "'run_at'"),
        (#"{"op":"enqueue","queue":"q","run_at":5}"#, .badRequest, "'run_at'"),
        (#"{"op":"enqueue","queue":"q","run_at":"2026-02-30T00:00:00Z"}"#, .badRequest, "'run_at'"),
        (#"{"op":"enqueue","queue":"q","run_at":"2026-11-23T06:00:00"}"#, .badRequest, "'run_at'"),
        (#"{"op":"enqueue","queue":"q","run_at":"2026-11-23T06:00:00Z","delay_ms":5}"#, .badRequest, "'delay_ms'"),
        (#"{"op":"enqueue","queue":"q","backoff":"fast"}"#, .badRequest, "'backoff'"),
        (#"{"op":"enqueue","queue":"q","backoff":[1000]}"#, .badRequest, "'backoff'"),
        (#"{"op":"enqueue","queue":"q","backoff":{"initial_ms":-1}}"#, .badRequest, "'backoff.initial_ms'"),
        (#"{"op":"enqueue","queue":"q","backoff":{"initial_ms":"1"}}"#, .badRequest, "'backoff.initial_ms'"),
        (#"{"op":"enqueue","queue":"q","backoff":{"max_ms":1.5}}"#, .badRequest, "'backoff.max_ms'"),
        (#"{"op":"enqueue","queue":"q","backoff":{"initial_ms":5000,"max_ms":4000}}"#, .badRequest, "'backoff.max_ms'"),
        (#"{"op":"enqueue","queue":"q","backoff":{"max_ms":999}}"#, .badRequest, "'backoff.max_ms'"),
        (#"{"op":"enqueue","queue":"q","unique_key":5}"#, .badRequest, "'unique_key'"),
        // claim.
        (#"{"op":"claim"}"#, .badRequest, "'queue'"),
        (#"{"op":"claim","queue":"a","queues":["b"]}"#, .badRequest, "'queues'"),
        (#"{"op":"claim","queues":"a"}"#, .badRequest, "'queues'"),
        (#"{"op":"claim","queues":[]}"#, .badRequest, "'queues'"),
        (#"{"op":"claim","queues":[1]}"#, .badRequest, "'queues'"),
        (#"{"op":"claim","queues":[""]}"#, .badRequest, "'queues'"),
        (#"{"op":"claim","queues":["a","b\u0000"]}"#, .badRequest, "'queues'"),
        (#"{"op":"claim","queue":"q","lease_ms":0}"#, .badRequest, "'lease_ms'"),
        (#"{"op":"claim","queue":"q","lease_ms":86400001}"#, .badRequest, "'lease_ms'"),
        (#"{"op":"claim","queue":"q","lease_ms":"30000"}"#, .badRequest, "'lease_ms'"),
        (#"{"op":"claim","queue":"q","wait_ms":-1}"#, .badRequest, "'wait_ms'"),
        (#"{"op":"claim","queue":"q","wait_ms":900001}"#, .badRequest, "'wait_ms'"),
        (#"{"op":"claim","queue":"q","wait_ms":0.5}"#, .badRequest, "'wait_ms'"),
        (#"{"op":"claim","queue":"q","worker":7}"#, .badRequest, "'worker'"),
        (#"{"op":"claim","queue":"q","worker":""}"#, .badRequest, "'worker'"),
        (#"{"op":"claim","queue":"q","worker":"agent\n7"}"#, .badRequest, "'worker'"),
        (#"{"op":"claim","queue":"q","worker":"agent\u001b[31m"}"#, .badRequest, "'worker'"),
        (#"{"op":"claim","queue":"q","worker":"agent\u007f"}"#, .badRequest, "'worker'"),
        // Fenced ops.
        (#"{"op":"progress","version":1}"#, .badRequest, "'job'"),
        (#"{"op":"progress","job":0,"version":1}"#, .badRequest, "'job'"),
        (#"{"op":"progress","job":-1,"version":1}"#, .badRequest, "'job'"),
        (#"{"op":"progress","job":"1","version":1}"#, .badRequest, "'job'"),
        (#"{"op":"progress","job":1.0,"version":1}"#, .badRequest, "'job'"),
        (#"{"op":"progress","job":null,"version":1}"#, .badRequest, "'job'"),
        (#"{"op":"progress","job":99999999999999999999,"version":1}"#, .badRequest, "'job'"),
        (#"{"op":"progress","job":1}"#, .badRequest, "'version'"),
        (#"{"op":"progress","job":1,"version":0}"#, .badRequest, "'version'"),
        (#"{"op":"progress","job":1,"version":null}"#, .badRequest, "'version'"),
        (#"{"op":"progress","job":1,"version":"1"}"#, .badRequest, "'version'"),
        (#"{"op":"progress","job":1,"version":1.5}"#, .badRequest, "'version'"),
        (#"{"op":"progress","job":1,"version":1,"lease_ms":0}"#, .badRequest, "'lease_ms'"),
        (#"{"op":"complete","job":1}"#, .badRequest, "'version'"),
        (#"{"op":"fail","job":1}"#, .badRequest, "'version'"),
        (#"{"op":"cancel","job":1}"#, .badRequest, "'version'"),
        (#"{"op":"retry","job":1}"#, .badRequest, "'version'"),
        (#"{"op":"cancel","version":1}"#, .badRequest, "'job'"),
        (#"{"op":"fail","job":1,"version":1,"retry":"yes"}"#, .badRequest, "'retry'"),
        (#"{"op":"fail","job":1,"version":1,"retry_in_ms":-1}"#, .badRequest, "'retry_in_ms'"),
        (#"{"op":"get"}"#, .badRequest, "'job'"),
        (#"{"op":"get","job":1,"events":1}"#, .badRequest, "'events'"),
        // list.
        (#"{"op":"list","limit":0}"#, .badRequest, "'limit'"),
        (#"{"op":"list","limit":1001}"#, .badRequest, "'limit'"),
        (#"{"op":"list","limit":"10"}"#, .badRequest, "'limit'"),
        (#"{"op":"list","after":-1}"#, .badRequest, "'after'"),
        (#"{"op":"list","state":"done"}"#, .badRequest, "'state'"),
        (#"{"op":"list","state":1}"#, .badRequest, "'state'"),
        (#"{"op":"list","state":"PENDING"}"#, .badRequest, "'state'"),
        (#"{"op":"list","queue":""}"#, .badRequest, "'queue'"),
        (#"{"op":"list","queue":1}"#, .badRequest, "'queue'"),
    ] as [(String, ErrorCode, String)])
    func malformedRequest_isRejectedNamingTheField(_ line: String, _ code: ErrorCode, _ fragment: String) throws {
        let rejected = try #require(rejection(line))
        #expect(rejected.error.code == code)
        #expect(rejected.error.message.contains(fragment), "message: \(rejected.error.message)")
        #expect(rejected.error.job == nil)
    }

    /// Strings longer than 255 bytes of UTF-8 are rejected for names, workers, clients and unique keys.
    @Test(arguments: [
        (#"{"op":"enqueue","queue":"#, "}", "'queue'"),
        (#"{"op":"enqueue","queue":"q","unique_key":"#, "}", "'unique_key'"),
        (#"{"op":"claim","queue":"q","worker":"#, "}", "'worker'"),
        (#"{"op":"claim","queues":["#, "]}", "'queues'"),
        (#"{"op":"hello","client":"#, "}", "'client'"),
        (#"{"op":"list","queue":"#, "}", "'queue'"),
    ] as [(String, String, String)])
    func overlongName_isRejected(_ prefix: String, _ suffix: String, _ field: String) throws {
        let rejected = try #require(rejection(prefix + quoted(256) + suffix))
        #expect(rejected.error.code == .badRequest)
        #expect(rejected.error.message.contains(field))
        // 255 bytes is fine; bytes, not characters, are counted (128 × "é" = 256 bytes).
        #expect(rejection(prefix + quoted(255) + suffix) == nil)
        #expect(rejection(prefix + quoted(128, "é") + suffix) != nil)
    }

    /// A schedule's name leaves room for the slot in its jobs' unique key
    /// (`schedule:<name>:<slot>`), so that key is never longer than a client's may be.
    @Test func scheduleName_isShortEnoughForItsJobsUniqueKeys() throws {
        let limit = Schedule.maxNameBytes(keyLimit: Limits.standard.maxNameBytes)
        #expect(limit == 221)
        let put = { (name: String) in
            #"{"op":"schedule_put","name":"# + name + #","cron":"0 6 * * *","queue":"q","version":0}"#
        }
        guard case .schedulePut(let accepted) = try operation(put(quoted(limit))) else {
            Issue.record("schedule_put did not decode as one")
            return
        }
        let latestSlot = try #require(Timestamp.parse("9999-12-31T23:59:00.000Z"))
        #expect(Schedule.uniqueKey(name: accepted.name, slot: latestSlot).utf8.count == Limits.standard.maxNameBytes)
        let rejected = try #require(rejection(put(quoted(limit + 1))))
        #expect(rejected.error.code == .badRequest)
        #expect(rejected.error.message.contains("'name' must be at most 221 bytes"), "\(rejected.error.message)")
        // Bytes, not characters: 111 × "é" is 222 bytes.
        #expect(rejection(put(quoted(111, "é"))) != nil)
        // A longer name may still be read or deleted, should one have been stored before.
        #expect(rejection(#"{"op":"schedule_get","name":"# + quoted(255) + "}") == nil)
        #expect(rejection(#"{"op":"schedule_delete","name":"# + quoted(255) + #","version":1}"#) == nil)
    }

    /// A fractional number is rejected with a message saying integers have no fraction or exponent.
    @Test(arguments: ["1.5", "1.0", "1e3", "1E3", "-0.0"])
    func fractionalNumber_isRejectedAsNotAnInteger(_ literal: String) throws {
        let rejected = try #require(rejection(#"{"op":"list","limit":"# + literal + "}"))
        #expect(rejected.error.message.contains("'limit'"))
        #expect(rejected.error.message.contains("no fraction or exponent"))
    }

    /// An out-of-range integer is rejected with a message giving the allowed range.
    @Test func outOfRangeInteger_namesTheRange() throws {
        let rejected = try #require(rejection(#"{"op":"list","limit":1001}"#))
        #expect(rejected.error.message == "field 'limit' must be between 1 and 1000")
    }

    /// A wrong type is rejected with a message naming the type that was sent.
    @Test func wrongType_namesTheTypeSent() throws {
        let rejected = try #require(rejection(#"{"op":"claim","queue":"q","lease_ms":"30000"}"#))
        #expect(rejected.error.message == "field 'lease_ms' must be an integer, not a string")
        let array = try #require(rejection(#"{"op":"enqueue","queue":["q"]}"#))
        #expect(array.error.message.contains("an array"))
    }

    /// A missing `version` on a fenced op gets a message that says to send the version.
    @Test(arguments: ["progress", "complete", "fail", "cancel", "retry"])
    func missingVersion_messageMentionsVersion(_ op: String) throws {
        let rejected = try #require(rejection(#"{"op":""# + op + #"","job":1}"#))
        #expect(rejected.error.code == .badRequest)
        #expect(rejected.error.message.contains("'version'"))
        #expect(rejected.error.message.contains("missing"))
    }

    /// `run_at` and `delay_ms` together are rejected, and the message names both.
    @Test func runAtWithDelay_isRejectedNamingBoth() throws {
        let rejected = try #require(rejection(#"{"op":"enqueue","queue":"q","run_at":"2026-11-23T06:00:00Z","delay_ms":0}"#))
        #expect(rejected.error.code == .badRequest)
        #expect(rejected.error.message.contains("'run_at'"))
        #expect(rejected.error.message.contains("'delay_ms'"))
    }

    /// `backoff.max_ms` below `backoff.initial_ms` is rejected and the message names both.
    @Test func backoffMaxBelowInitial_isRejectedNamingBoth() throws {
        let rejected = try #require(rejection(#"{"op":"enqueue","queue":"q","backoff":{"initial_ms":2000,"max_ms":1999}}"#))
        #expect(rejected.error.message.contains("'backoff.max_ms'"))
        #expect(rejected.error.message.contains("'backoff.initial_ms'"))
    }

    /// An unknown op gets code unknown_op and a message quoting the op.
    @Test func unknownOp_hasItsOwnCode() throws {
        let rejected = try #require(rejection(#"{"op":"frobnicate","id":1}"#))
        #expect(rejected.error.code == .unknownOp)
        #expect(rejected.error.message.contains("\"frobnicate\""))
        #expect(rejected.id == .number("1"))
    }

    /// A `run_at` whose offset moves the instant out of years 0000 to 9999 is rejected, since it cannot be formatted.
    @Test(arguments: ["0000-01-01T00:00:00+00:01", "9999-12-31T23:59:59-23:59"])
    func runAtOutsideFormattableYears_isRejected(_ runAt: String) {
        let rejected = rejection(#"{"op":"enqueue","queue":"q","run_at":""# + runAt + #""}"#)
        #expect(rejected?.error.code == .badRequest)
    }

    // MARK: Limits

    /// The decoder enforces the limits it was given rather than the standard ones.
    @Test func customLimits_areEnforced() throws {
        var limits = Limits()
        limits.maxListLimit = 10
        limits.maxClaimQueues = 2
        limits.maxLeaseMs = 1000
        limits.maxWaitMs = 10
        limits.maxAttempts = 5
        limits.maxNameBytes = 3
        limits.maxDelayMs = 100
        #expect(try operation(#"{"op":"list","limit":10}"#, limits: limits) == .list(ListRequest(limit: 10)))
        #expect(rejection(#"{"op":"list","limit":11}"#, limits: limits)?.error.message.contains("'limit'") == true)
        #expect(rejection(#"{"op":"claim","queues":["a","b","c"]}"#, limits: limits)?.error.message.contains("'queues'") == true)
        #expect(rejection(#"{"op":"claim","queue":"a","lease_ms":1001}"#, limits: limits) != nil)
        #expect(rejection(#"{"op":"claim","queue":"a","wait_ms":11}"#, limits: limits) != nil)
        #expect(rejection(#"{"op":"enqueue","queue":"a","max_attempts":6}"#, limits: limits) != nil)
        #expect(rejection(#"{"op":"enqueue","queue":"abcd"}"#, limits: limits) != nil)
        #expect(rejection(#"{"op":"enqueue","queue":"a","delay_ms":101}"#, limits: limits) != nil)
        #expect(rejection(#"{"op":"progress","job":1,"version":1,"lease_ms":1001}"#, limits: limits) != nil)
        #expect(try operation(#"{"op":"claim","queues":["a","b"],"lease_ms":1000,"wait_ms":10}"#, limits: limits)
            == .claim(ClaimRequest(queues: ["a", "b"], leaseMs: 1000, waitMs: 10)))
    }

    /// A claim naming more than 64 queues is rejected under the standard limits.
    @Test func claimWithTooManyQueues_isRejected() throws {
        let names = (1...65).map { "\"q\($0)\"" }.joined(separator: ",")
        let rejected = try #require(rejection(#"{"op":"claim","queues":["# + names + "]}"))
        #expect(rejected.error.message.contains("'queues'"))
    }
}
