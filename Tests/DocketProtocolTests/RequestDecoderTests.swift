import DocketProtocol
import Testing

@Suite("RequestDecoder")
struct RequestDecoderTests {
    // MARK: Ops without fields

    /// `ping` and `stats` decode with no fields.
    @Test func pingAndStats_decode() throws {
        #expect(try operation(#"{"op":"ping"}"#) == .ping)
        #expect(try operation(#"{"op":"stats"}"#) == .stats)
    }

    /// `hello` carries its optional client name.
    @Test func hello_carriesOptionalClient() throws {
        #expect(try operation(#"{"op":"hello"}"#) == .hello(client: nil))
        #expect(try operation(#"{"op":"hello","client":"agent-7"}"#) == .hello(client: "agent-7"))
        #expect(try operation(#"{"op":"hello","client":null}"#) == .hello(client: nil))
    }

    /// Fields an op does not know are ignored, so clients may send newer fields.
    @Test func unknownFields_areIgnored() throws {
        #expect(try operation(#"{"op":"ping","trace":{"a":[1]},"x":1}"#) == .ping)
    }

    /// Member order does not matter: `op` may come last.
    @Test func opMayComeAfterOtherFields() throws {
        #expect(try request(#"{"queue":"q","id":5,"op":"enqueue"}"#).operation == .enqueue(EnqueueRequest(queue: "q")))
    }

    // MARK: enqueue

    /// An `enqueue` with only a queue gets the contract's defaults.
    @Test func enqueue_appliesContractDefaults() throws {
        guard case .enqueue(let e) = try operation(#"{"op":"enqueue","queue":"emails"}"#) else {
            Issue.record("not an enqueue")
            return
        }
        #expect(e.queue == "emails")
        #expect(e.payload == .null)
        #expect(e.priority == 0)
        #expect(e.maxAttempts == 3)
        #expect(e.backoffInitialMs == 1000)
        #expect(e.backoffMaxMs == 3_600_000)
        #expect(e.runAt == .now)
        #expect(e.uniqueKey == nil)
    }

    /// Explicit `null` for an optional enqueue field means the default.
    @Test func enqueueNullFields_meanDefaults() throws {
        let op = try operation(
            #"{"op":"enqueue","queue":"q","priority":null,"max_attempts":null,"run_at":null,"delay_ms":null,"unique_key":null}"#)
        #expect(op == .enqueue(EnqueueRequest(queue: "q")))
    }

    /// Every enqueue field is decoded; the payload becomes compact JSON text with its number literals kept.
    @Test func enqueue_decodesEveryField() throws {
        let op = try operation(
            #"{"op":"enqueue","queue":"emails","payload": { "to" : "a@b", "n" : 1.50 },"priority":-5,"#
                + #""run_at":"2026-11-23T06:00:00.000Z","max_attempts":7,"backoff":{"initial_ms":500,"max_ms":60000},"#
                + #""unique_key":"k-1"}"#)
        #expect(
            op
                == .enqueue(
                    EnqueueRequest(
                        queue: "emails", payload: RawJSON(trusted: #"{"to":"a@b","n":1.50}"#), priority: -5,
                        runAt: .at(1_795_413_600_000), maxAttempts: 7, backoffInitialMs: 500, backoffMaxMs: 60_000,
                        uniqueKey: "k-1")))
    }

    /// `delay_ms` becomes a run time relative to now.
    @Test func enqueueDelay_isRelativeToNow() throws {
        guard case .enqueue(let e) = try operation(#"{"op":"enqueue","queue":"q","delay_ms":2500}"#) else {
            Issue.record("not an enqueue")
            return
        }
        #expect(e.runAt == .after(milliseconds: 2500))
        #expect(e.runAt.resolve(now: 1000) == 3500)
    }

    /// `run_at` with an offset is converted to UTC milliseconds.
    @Test func enqueueRunAtWithOffset_isConvertedToUTC() throws {
        guard case .enqueue(let e) = try operation(#"{"op":"enqueue","queue":"q","run_at":"2026-11-23T08:00:00+02:00"}"#)
        else {
            Issue.record("not an enqueue")
            return
        }
        #expect(e.runAt == .at(1_795_413_600_000))
    }

    /// Priority accepts the whole Int32 range and payload accepts any JSON value.
    @Test func enqueueRanges_acceptTheirBounds() throws {
        #expect(try operation(#"{"op":"enqueue","queue":"q","priority":-2147483648}"#) == .enqueue(EnqueueRequest(queue: "q", priority: -2_147_483_648)))
        #expect(try operation(#"{"op":"enqueue","queue":"q","priority":2147483647}"#) == .enqueue(EnqueueRequest(queue: "q", priority: 2_147_483_647)))
        #expect(try operation(#"{"op":"enqueue","queue":"q","max_attempts":1000}"#) == .enqueue(EnqueueRequest(queue: "q", maxAttempts: 1000)))
        #expect(try operation(#"{"op":"enqueue","queue":"q","payload":"text"}"#) == .enqueue(EnqueueRequest(queue: "q", payload: RawJSON(trusted: #""text""#))))
        #expect(try operation(#"{"op":"enqueue","queue":"q","payload":[1,null]}"#) == .enqueue(EnqueueRequest(queue: "q", payload: RawJSON(trusted: "[1,null]"))))
        let longest = try operation(#"{"op":"enqueue","queue":"# + quoted(255) + "}")
        #expect(longest == .enqueue(EnqueueRequest(queue: String(repeating: "q", count: 255))))
    }

    /// A backoff with only `initial_ms` keeps the default maximum, raised to the initial value if that is larger.
    @Test func backoffInitialOnly_keepsADefaultMaximumAtLeastTheInitial() throws {
        #expect(
            try operation(#"{"op":"enqueue","queue":"q","backoff":{"initial_ms":2000}}"#)
                == .enqueue(EnqueueRequest(queue: "q", backoffInitialMs: 2000, backoffMaxMs: 3_600_000)))
        #expect(
            try operation(#"{"op":"enqueue","queue":"q","backoff":{"initial_ms":5000000}}"#)
                == .enqueue(EnqueueRequest(queue: "q", backoffInitialMs: 5_000_000, backoffMaxMs: 5_000_000)))
    }

    /// A backoff with only `max_ms` keeps the default initial delay; an equal max and initial is allowed.
    @Test func backoffMaxOnly_keepsTheDefaultInitial() throws {
        #expect(
            try operation(#"{"op":"enqueue","queue":"q","backoff":{"max_ms":60000}}"#)
                == .enqueue(EnqueueRequest(queue: "q", backoffInitialMs: 1000, backoffMaxMs: 60_000)))
        #expect(
            try operation(#"{"op":"enqueue","queue":"q","backoff":{"initial_ms":0,"max_ms":0}}"#)
                == .enqueue(EnqueueRequest(queue: "q", backoffInitialMs: 0, backoffMaxMs: 0)))
        #expect(try operation(#"{"op":"enqueue","queue":"q","backoff":{}}"#) == .enqueue(EnqueueRequest(queue: "q")))
    }

    // MARK: claim

    /// A `claim` with one queue gets lease 30000, wait 0 and no worker.
    @Test func claim_appliesContractDefaults() throws {
        guard case .claim(let c) = try operation(#"{"op":"claim","queue":"emails"}"#) else {
            Issue.record("not a claim")
            return
        }
        #expect(c.queues == ["emails"])
        #expect(c.leaseMs == 30_000)
        #expect(c.waitMs == 0)
        #expect(c.worker == nil)
    }

    /// `queues` names several queues, in order, without repeats.
    @Test func claimQueues_keepOrderAndDropRepeats() throws {
        #expect(
            try operation(#"{"op":"claim","queues":["b","a","b"],"lease_ms":5000,"wait_ms":900000,"worker":"agent-7"}"#)
                == .claim(ClaimRequest(queues: ["b", "a"], leaseMs: 5000, waitMs: 900_000, worker: "agent-7")))
    }

    /// A claim may name up to 64 queues and ask for a lease of up to one day.
    @Test func claim_acceptsItsBounds() throws {
        let names = (1...64).map { "\"q\($0)\"" }.joined(separator: ",")
        guard case .claim(let c) = try operation(#"{"op":"claim","lease_ms":86400000,"queues":["# + names + "]}") else {
            Issue.record("not a claim")
            return
        }
        #expect(c.queues.count == 64)
        #expect(c.leaseMs == 86_400_000)
    }

    // MARK: Ops on one job

    /// `progress` carries the fence, optional progress JSON and optional lease; absent fields are nil.
    @Test func progress_decodesFenceAndOptionalFields() throws {
        #expect(
            try operation(#"{"op":"progress","job":42,"version":3}"#)
                == .progress(ProgressRequest(fence: JobVersion(job: 42, version: 3))))
        #expect(
            try operation(#"{"op":"progress","job":42,"version":3,"progress":{"pct":50},"lease_ms":60000}"#)
                == .progress(
                    ProgressRequest(
                        fence: JobVersion(job: 42, version: 3), progress: RawJSON(trusted: #"{"pct":50}"#), leaseMs: 60_000)))
    }

    /// An explicit `"progress": null` is kept as JSON null, distinct from an absent field.
    @Test func progressExplicitNull_isDistinctFromAbsent() throws {
        #expect(
            try operation(#"{"op":"progress","job":1,"version":1,"progress":null}"#)
                == .progress(ProgressRequest(fence: JobVersion(job: 1, version: 1), progress: .null)))
    }

    /// `complete` carries the fence and a result that defaults to null.
    @Test func complete_decodesResultDefaultingToNull() throws {
        #expect(try operation(#"{"op":"complete","job":1,"version":2}"#) == .complete(CompleteRequest(fence: JobVersion(job: 1, version: 2))))
        #expect(
            try operation(#"{"op":"complete","job":1,"version":2,"result":[1,"two"]}"#)
                == .complete(CompleteRequest(fence: JobVersion(job: 1, version: 2), result: RawJSON(trusted: #"[1,"two"]"#))))
    }

    /// `fail` defaults to error null, retry true and no retry delay.
    @Test func fail_appliesDefaults() throws {
        #expect(
            try operation(#"{"op":"fail","job":9,"version":4}"#)
                == .fail(FailRequest(fence: JobVersion(job: 9, version: 4), error: .null, retry: true, retryInMs: nil)))
        #expect(
            try operation(#"{"op":"fail","job":9,"version":4,"error":{"msg":"boom"},"retry":false,"retry_in_ms":0}"#)
                == .fail(
                    FailRequest(
                        fence: JobVersion(job: 9, version: 4), error: RawJSON(trusted: #"{"msg":"boom"}"#), retry: false,
                        retryInMs: 0)))
    }

    /// `cancel` and `retry` carry only the fence.
    @Test func cancelAndRetry_carryTheFence() throws {
        #expect(try operation(#"{"op":"cancel","job":5,"version":1}"#) == .cancel(JobVersion(job: 5, version: 1)))
        #expect(try operation(#"{"op":"retry","job":5,"version":6}"#) == .retry(JobVersion(job: 5, version: 6)))
        #expect(
            try operation(#"{"op":"cancel","job":9223372036854775807,"version":9223372036854775807}"#)
                == .cancel(JobVersion(job: .max, version: .max)))
    }

    /// `get` carries the job and `events`, which defaults to false.
    @Test func get_defaultsEventsToFalse() throws {
        #expect(try operation(#"{"op":"get","job":3}"#) == .get(GetRequest(job: 3, events: false)))
        #expect(try operation(#"{"op":"get","job":3,"events":true}"#) == .get(GetRequest(job: 3, events: true)))
    }

    // MARK: list

    /// `list` defaults to limit 100 and no filters.
    @Test func list_appliesContractDefaults() throws {
        guard case .list(let l) = try operation(#"{"op":"list"}"#) else {
            Issue.record("not a list")
            return
        }
        #expect(l.limit == 100)
        #expect(l.queue == nil)
        #expect(l.state == nil)
        #expect(l.after == nil)
    }

    /// `list` decodes its filters, every state name and limits up to 1000.
    @Test func list_decodesFiltersAndStates() throws {
        #expect(
            try operation(#"{"op":"list","queue":"q","state":"failed","limit":1000,"after":0}"#)
                == .list(ListRequest(queue: "q", state: .failed, limit: 1000, after: 0)))
        for state in JobState.allCases {
            #expect(try operation(#"{"op":"list","state":""# + state.rawValue + #""}"#) == .list(ListRequest(state: state)))
        }
    }

    // MARK: id echo

    /// A scalar `id` is kept exactly as sent: string, number literal, null and booleans.
    @Test(arguments: [
        (#""abc""#, JSONValue.string("abc")), ("1.50", .number("1.50")), ("-7", .number("-7")), ("1e3", .number("1e3")),
        ("null", .null), ("true", .bool(true)), ("false", .bool(false)), (#""""#, .string("")),
    ] as [(String, JSONValue)])
    func scalarID_isEchoedExactly(_ literal: String, _ expected: JSONValue) throws {
        let decoded = try request(#"{"id":"# + literal + #","op":"ping"}"#)
        #expect(decoded.id == expected)
    }

    /// A request without `id` has no id to echo, which differs from `"id": null`.
    @Test func absentID_isNil() throws {
        #expect(try request(#"{"op":"ping"}"#).id == nil)
        #expect(try request(#"{"op":"ping","id":null}"#).id == .some(.null))
    }

    /// An `id` that is an object or array is rejected as bad_request naming `id`, with nothing to echo.
    @Test(arguments: [#"{"a":1}"#, "[1]", "{}", "[]"])
    func nonScalarID_isRejected(_ literal: String) throws {
        let rejected = try #require(rejection(#"{"op":"ping","id":"# + literal + "}"))
        #expect(rejected.error.code == .badRequest)
        #expect(rejected.error.message.contains("'id'"))
        #expect(rejected.id == nil)
    }

    /// The echoed `id` is kept when the request is rejected for a field error, an unknown op or a missing op.
    @Test(arguments: [
        #"{"id":"abc","op":"enqueue"}"#, #"{"id":"abc","op":"enqueue","queue":"q","priority":1.5}"#,
        #"{"id":"abc","op":"nope"}"#, #"{"id":"abc"}"#, #"{"op":"progress","job":1,"id":"abc"}"#,
    ])
    func idOfRejectedRequest_isKept(_ line: String) throws {
        let rejected = try #require(rejection(line))
        #expect(rejected.id == .string("abc"))
    }

    /// The echoed number `id` keeps its literal text when the request is rejected.
    @Test func numericIDOfRejectedRequest_keepsItsLiteral() throws {
        let rejected = try #require(rejection(#"{"id":1.50,"op":"claim"}"#))
        #expect(rejected.id == .number("1.50"))
    }

    /// A line that is not JSON, or not an object, has no id to echo.
    @Test(arguments: [#"{"id":"abc","op":"ping""#, #"["id","abc"]"#, #"{"id":"abc","id":"abc","op":"ping"}"#])
    func unreadableRequest_hasNoID(_ line: String) throws {
        let rejected = try #require(rejection(line))
        #expect(rejected.id == nil)
        #expect(rejected.error.code == .badRequest)
    }

    /// Decoding works on a byte slice as handed over by the framer.
    @Test func decodingAByteSlice_works() throws {
        let line = Array("{\"op\":\"ping\",\"id\":7}\r\n".utf8)
        let result = RequestDecoder().decode(line[0..<20])
        #expect(try result.get() == Request(id: .number("7"), operation: .ping))
    }
}
