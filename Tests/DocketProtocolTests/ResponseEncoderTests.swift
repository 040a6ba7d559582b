import DocketProtocol
import Testing

private func line(_ reply: Reply, id: JSONValue? = nil) -> String {
    String(decoding: ResponseEncoder.encode(id: id, reply: reply), as: UTF8.self)
}

private let t0: Int64 = 1_795_413_600_000  // 2026-11-23T06:00:00.000Z

/// A job as `enqueue` would return it: pending, nothing optional set.
private let pendingJob = Job(
    id: 42, queue: "emails", state: .pending, version: 1, priority: 0, payload: RawJSON(trusted: #"{"to":"a@b"}"#),
    attempt: 0, maxAttempts: 3, runAt: t0, createdAt: t0, updatedAt: t0, leaseExpiresAt: nil, worker: nil,
    progress: nil, result: nil, lastError: nil, uniqueKey: nil)

/// A running job with every optional field set.
private let runningJob = Job(
    id: 42, queue: "emails", state: .running, version: 3, priority: -2, payload: RawJSON(trusted: #"{"to":"a@b"}"#),
    attempt: 1, maxAttempts: 3, runAt: t0, createdAt: t0 - 1, updatedAt: t0 + 1_500, leaseExpiresAt: t0 + 31_500,
    worker: "agent-7", progress: RawJSON(trusted: #"{"pct":50}"#), result: RawJSON(trusted: "1.50"),
    lastError: RawJSON(trusted: #""timeout""#), uniqueKey: "u-1", concurrencyKey: "repo-1",
    timeoutMs: 600_000, traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", tracestate: "vendor=abc")

private let pendingJobText =
    #"{"id":42,"queue":"emails","state":"pending","version":1,"priority":0,"payload":{"to":"a@b"},"attempt":0,"#
    + #""max_attempts":3,"run_at":"2026-11-23T06:00:00.000Z","created_at":"2026-11-23T06:00:00.000Z","#
    + #""updated_at":"2026-11-23T06:00:00.000Z","lease_expires_at":null,"worker":null,"progress":null,"#
    + #""result":null,"last_error":null,"unique_key":null,"concurrency_key":null,"#
    + #""timeout_ms":null,"traceparent":null,"tracestate":null,"after":[],"waiting_for":[]}"#

private let runningJobText =
    #"{"id":42,"queue":"emails","state":"running","version":3,"priority":-2,"payload":{"to":"a@b"},"attempt":1,"#
    + #""max_attempts":3,"run_at":"2026-11-23T06:00:00.000Z","created_at":"2026-11-23T05:59:59.999Z","#
    + #""updated_at":"2026-11-23T06:00:01.500Z","lease_expires_at":"2026-11-23T06:00:31.500Z","worker":"agent-7","#
    + #""progress":{"pct":50},"result":1.50,"last_error":"timeout","unique_key":"u-1","#
    + #""concurrency_key":"repo-1","timeout_ms":600000,"#
    + #""traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","tracestate":"vendor=abc","after":[],"waiting_for":[]}"#

private let event = JobEvent(
    seq: 1234, at: t0, job: 42, queue: "emails", kind: .leaseExpired, version: 4, state: .pending,
    data: RawJSON(trusted: #"{"attempt":1}"#), peer: "123@1000")

@Suite("ResponseEncoder")
struct ResponseEncoderTests {
    // MARK: Envelope

    /// A success without id is `{"ok":true}` and a newline.
    @Test func pongWithoutID_isJustOK() {
        #expect(line(.pong) == "{\"ok\":true}\n")
    }

    /// The id comes first and is echoed as the exact literal that was sent.
    @Test(arguments: [
        (JSONValue.number("1"), "1"), (.number("1.50"), "1.50"), (.number("-0"), "-0"), (.number("1E+3"), "1E+3"),
        (.number("123456789012345678901234567890"), "123456789012345678901234567890"), (.string("abc"), #""abc""#),
        (.string("a\"b\\c\n"), #""a\"b\\c\n""#), (.string("é"), #""é""#), (.null, "null"), (.bool(true), "true"),
        (.bool(false), "false"),
    ] as [(JSONValue, String)])
    func id_isEchoedAsTheExactLiteral(_ id: JSONValue, _ literal: String) {
        #expect(line(.pong, id: id) == #"{"id":"# + literal + #","ok":true}"# + "\n")
    }

    /// A failure is `ok: false` with an error object of code and message, after the id.
    @Test func failure_hasCodeAndMessage() {
        let reply = Reply.failure(.badRequest("field 'queue' is missing"))
        #expect(
            line(reply, id: .string("x"))
                == #"{"id":"x","ok":false,"error":{"code":"bad_request","message":"field 'queue' is missing"}}"# + "\n")
        #expect(line(.failure(ProtocolError(.unknownOp, "nope"))) == #"{"ok":false,"error":{"code":"unknown_op","message":"nope"}}"# + "\n")
    }

    /// Every error code is written with its wire name.
    @Test(arguments: ErrorCode.allCases)
    func errorCode_isWrittenWithItsWireName(_ code: ErrorCode) throws {
        let text = line(.failure(ProtocolError(code, "m")))
        #expect(text == #"{"ok":false,"error":{"code":""# + code.rawValue + #"","message":"m"}}"# + "\n")
        #expect(
            ["bad_request", "unknown_op", "not_found", "stale_version", "invalid_state", "too_large", "forbidden",
             "shutting_down", "internal", "watch_overflow", "unavailable", "in_doubt"].contains(code.rawValue))
    }

    /// A stale_version error carries the job's present `{id, version, state}` in `error.job`.
    @Test func staleVersion_carriesTheJobReference() {
        let error = ProtocolError(.staleVersion, "job 42 is at version 4", job: JobReference(id: 42, version: 4, state: .running))
        #expect(
            line(.failure(error), id: .number("7"))
                == #"{"id":7,"ok":false,"error":{"code":"stale_version","message":"job 42 is at version 4","job":{"id":42,"version":4,"state":"running"}}}"#
                + "\n")
    }

    /// A job's `reference` is its id, version and state.
    @Test func jobReference_isIDVersionAndState() {
        #expect(runningJob.reference == JobReference(id: 42, version: 3, state: .running))
    }

    /// Error messages are escaped so the response stays on one line.
    @Test func errorMessage_isEscaped() {
        let text = line(.failure(.badRequest("bad \"x\"\nline\\")))
        #expect(text == #"{"ok":false,"error":{"code":"bad_request","message":"bad \"x\"\nline\\"}}"# + "\n")
    }

    // MARK: Jobs

    /// A pending job is written with every contract field, in contract order, with null for unset fields.
    @Test func pendingJob_isWrittenInContractOrderWithNulls() {
        #expect(line(.job(pendingJob), id: .number("1")) == #"{"id":1,"ok":true,"job":"# + pendingJobText + "}\n")
    }

    /// A running job writes its lease, worker, stored JSON verbatim and unique key.
    @Test func runningJob_writesEveryOptionalField() {
        #expect(line(.job(runningJob)) == #"{"ok":true,"job":"# + runningJobText + "}\n")
    }

    /// The job's members are exactly the contract's, in its order.
    @Test func jobMembers_areTheContractsInOrder() throws {
        let body = ResponseEncoder.encode(id: nil, reply: .job(pendingJob)).dropLast()
        let job = try #require(try JSONParser.parse(body)["job"]?.object)
        #expect(
            job.keys
                == ["id", "queue", "state", "version", "priority", "payload", "attempt", "max_attempts", "run_at",
                    "created_at", "updated_at", "lease_expires_at", "worker", "progress", "result", "last_error",
                    "unique_key", "concurrency_key", "timeout_ms", "traceparent", "tracestate", "after", "waiting_for"])
    }

    /// Queue names, workers and unique keys are escaped.
    @Test func jobStrings_areEscaped() throws {
        var job = pendingJob
        job.queue = "q\"1"
        job.worker = "w\n"
        job.uniqueKey = "k\\"
        let text = line(.job(job))
        #expect(text.contains(#""queue":"q\"1""#))
        #expect(text.contains(#""worker":"w\n""#))
        #expect(text.contains(#""unique_key":"k\\""#))
        #expect(try JSONParser.parse(Array(text.utf8).dropLast())["job"]?["worker"] == .string("w\n"))
    }

    /// `enqueue` answers with the job and whether it was created.
    @Test func enqueued_addsCreatedAfterTheJob() {
        #expect(line(.enqueued(pendingJob, created: true)) == #"{"ok":true,"job":"# + pendingJobText + #","created":true}"# + "\n")
        #expect(line(.enqueued(pendingJob, created: false)) == #"{"ok":true,"job":"# + pendingJobText + #","created":false}"# + "\n")
    }

    /// A claim that found nothing answers `"job": null`; one that found a job answers with it.
    @Test func claimed_writesTheJobOrNull() {
        #expect(line(.claimed(nil), id: .string("c")) == #"{"id":"c","ok":true,"job":null}"# + "\n")
        #expect(line(.claimed(runningJob)) == #"{"ok":true,"job":"# + runningJobText + "}\n")
    }

    /// `get` answers with the job, and with `events` only when they were asked for.
    @Test func found_writesEventsOnlyWhenAsked() {
        #expect(line(.found(pendingJob, events: nil)) == #"{"ok":true,"job":"# + pendingJobText + "}\n")
        #expect(line(.found(pendingJob, events: [])) == #"{"ok":true,"job":"# + pendingJobText + #","events":[]}"# + "\n")
        let eventText =
            #"{"seq":1234,"at":"2026-11-23T06:00:00.000Z","job":42,"queue":"emails","type":"lease_expired","#
            + #""version":4,"state":"pending","data":{"attempt":1},"peer":"123@1000"}"#
        var bare = event
        bare.seq = 1235
        bare.kind = .retryScheduled
        bare.data = nil
        bare.peer = nil
        let bareText =
            #"{"seq":1235,"at":"2026-11-23T06:00:00.000Z","job":42,"queue":"emails","type":"retry_scheduled","#
            + #""version":4,"state":"pending","data":null,"peer":null}"#
        #expect(
            line(.found(pendingJob, events: [event, bare]))
                == #"{"ok":true,"job":"# + pendingJobText + #","events":["# + eventText + "," + bareText + "]}\n")
    }

    /// `list` answers with the jobs and the next cursor, or null when there is no next page.
    @Test func listed_writesJobsAndNextCursor() {
        #expect(line(.listed([], next: nil)) == #"{"ok":true,"jobs":[],"next":null}"# + "\n")
        #expect(
            line(.listed([pendingJob, runningJob], next: 43))
                == #"{"ok":true,"jobs":["# + pendingJobText + "," + runningJobText + #"],"next":43}"# + "\n")
    }

    // MARK: Other replies

    /// `hello` answers with server name and version, protocol 1, the client-facing limits and
    /// the store.
    @Test func hello_writesServerProtocolLimitsAndStore() {
        let info = ServerInfo(version: "0.1.0", limits: .standard, store: "postgresql")
        #expect(
            line(.hello(info), id: .number("1"))
                == #"{"id":1,"ok":true,"server":{"name":"docketd","version":"0.1.0"},"protocol":1,"#
                + #""limits":{"max_line_bytes":1048576,"max_lease_ms":86400000,"max_wait_ms":900000},"store":"postgresql"}"#
                + "\n")
    }

    /// `stats` answers with per-queue state counts in the given order, then the counters.
    @Test func stats_writesQueuesAndCounters() {
        let stats = Statistics(
            queues: [("emails", [(.pending, 3), (.running, 1)]), ("we\"ird", [(.failed, 2)]), ("empty", [])],
            connections: 5, waitingClaims: 2, uptimeMs: 123_456)
        #expect(
            line(.stats(stats))
                == #"{"ok":true,"queues":{"emails":{"pending":3,"running":1},"we\"ird":{"failed":2},"empty":{}},"#
                + #""connections":5,"waiting_claims":2,"uptime_ms":123456}"# + "\n")
        let none = Statistics(queues: [], connections: 0, waitingClaims: 0, uptimeMs: 0)
        #expect(line(.stats(none)) == #"{"ok":true,"queues":{},"connections":0,"waiting_claims":0,"uptime_ms":0}"# + "\n")
    }

    // MARK: Lines

    /// Every reply is one line of valid JSON ending in exactly one `\n`, with no other newline byte.
    @Test(arguments: [
        Reply.pong, .hello(ServerInfo(version: "1\n2", limits: .standard)), .job(runningJob),
        .enqueued(pendingJob, created: true), .claimed(nil), .found(runningJob, events: [event]),
        .listed([pendingJob], next: nil), .stats(Statistics(queues: [("a\nb", [(.completed, 1)])], connections: 1, waitingClaims: 0, uptimeMs: 1)),
        .failure(ProtocolError(.staleVersion, "multi\nline\r\nmessage", job: runningJob.reference)),
    ])
    func everyReply_isOneLineOfJSON(_ reply: Reply) throws {
        for id in [nil, JSONValue.string("x\ny"), .number("1.50")] as [JSONValue?] {
            let bytes = ResponseEncoder.encode(id: id, reply: reply)
            #expect(bytes.last == UInt8(ascii: "\n"))
            #expect(bytes.filter { $0 == UInt8(ascii: "\n") }.count == 1)
            #expect(!bytes.contains(UInt8(ascii: "\r")))
            let value = try JSONParser.parse(bytes.dropLast())
            #expect(value.object?.keys.first == (id == nil ? "ok" : "id"))
            #expect(value["id"] == id)
            if case .failure = reply {
                #expect(value["ok"] == .bool(false))
                #expect(value["error"]?["code"] != nil)
            } else {
                #expect(value["ok"] == .bool(true))
                #expect(value["error"] == nil)
            }
        }
    }
}
