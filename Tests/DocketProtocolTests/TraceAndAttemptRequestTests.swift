import DocketProtocol
import Testing

@Suite("Requests: trace context, attempt timeouts, snooze")
struct TraceAndAttemptRequestTests {
    let decoder = RequestDecoder()

    func decode(_ line: String) -> Result<Request, RequestDecoder.Rejection> { decoder.decode(Array(line.utf8)) }

    func refusal(_ line: String) -> String? {
        guard case .failure(let rejection) = decode(line) else { return nil }
        return rejection.error.code == .badRequest ? rejection.error.message : nil
    }

    @Test func enqueue_carriesTimeoutAndTraceContext() throws {
        let line = #"{"op":"enqueue","queue":"q","timeout_ms":600000,"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","tracestate":"congo=t61rcWkgMzE, rojo=00f067aa0ba902b7"}"#
        guard case .success(let request) = decode(line), case .enqueue(let enqueue) = request.operation else {
            Issue.record("refused: \(decode(line))")
            return
        }
        #expect(enqueue.timeoutMs == 600_000)
        #expect(enqueue.traceparent == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        #expect(enqueue.tracestate == "congo=t61rcWkgMzE, rojo=00f067aa0ba902b7")
    }

    @Test(arguments: [
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",  // a field short
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // uppercase
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // no trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // no parent id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // the forbidden version
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  // version 00 has four fields
    ])
    func malformedTraceparent_isRefused(_ traceparent: String) {
        let message = refusal(#"{"op":"enqueue","queue":"q","traceparent":"\#(traceparent)"}"#)
        #expect(message?.contains("'traceparent' is not a W3C Trace Context traceparent") == true)
    }

    @Test func laterTraceparentVersions_mayAddFields() {
        #expect(TraceContext.isValidTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-abcd"))
    }

    @Test(arguments: ["Congo=x", "a=b,c", "=x", "a=" + String(repeating: "v", count: 257), "k=with,comma=x=y"])
    func malformedTracestate_isRefused(_ tracestate: String) {
        #expect(refusal(#"{"op":"enqueue","queue":"q","tracestate":"\#(tracestate)"}"#)?.contains("'tracestate'") == true)
    }

    @Test func timeoutsAndSnoozeDelays_areBounded() {
        #expect(refusal(#"{"op":"enqueue","queue":"q","timeout_ms":0}"#)?.contains("'timeout_ms' must be between 1 and 604800000") == true)
        #expect(refusal(#"{"op":"enqueue","queue":"q","timeout_ms":-5}"#) != nil)
        #expect(refusal(#"{"op":"enqueue","jobs":[{"queue":"q","timeout_ms":604800001}]}"#)?.contains("'jobs[0].timeout_ms'") == true)
        #expect(refusal(#"{"op":"snooze","job":1,"version":2}"#)?.contains("'delay_ms' is missing") == true)
        #expect(refusal(#"{"op":"snooze","job":1,"version":2,"delay_ms":-1}"#)?.contains("'delay_ms'") == true)
        guard case .success(let request) = decode(#"{"op":"snooze","job":1,"version":2,"delay_ms":30000}"#) else { return }
        #expect(request.operation == .snooze(SnoozeRequest(fence: JobVersion(job: 1, version: 2), delayMs: 30000)))
    }
}
