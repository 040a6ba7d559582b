import ArgumentParser
import DocketClient
import DocketProtocol

#if canImport(Glibc)
import Glibc
#endif

struct Enqueue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add a job to a queue.",
        discussion: """
            The payload is JSON, or a string when it does not parse as JSON; `-` reads it from \
            standard input. Examples:
              docket enqueue emails '{"to":"a@example.com"}'
              docket enqueue reports --delay 1h --unique-key report:2026-11
              generate-batch | docket enqueue imports -
              seq 1 5000 | docket enqueue numbers --lines -
            With --lines, each line of the input is the payload of a job of its own; they are \
            sent 1000 to a request, each request stored all or nothing.
            """)

    @ParentCommand var docket: Docket
    @OptionGroup var output: OutputOptions

    @Argument(help: "The queue.") var queue: String
    @Argument(help: "The payload: JSON or a string; - for standard input.") var payload: String?
    @Option(help: "Read the payload from this file.") var file: String?
    @Flag(help: "One job per line of the input (the argument, - or --file).") var lines = false
    @Option(help: "Lower runs first (default 0).") var priority: Int64?
    @Option(help: "Make the job eligible this long from now (30s, 5m, 2h, ...).") var delay: DurationArgument?
    @Option(help: "Make the job eligible at this RFC 3339 time.") var at: String?
    @Option(help: "Claims allowed before a failure is final (default 3).") var maxAttempts: Int64?
    @Option(help: "First retry delay after a failure (default 1s); it doubles with each attempt.") var backoff: DurationArgument?
    @Option(help: "Longest retry delay (default 1h).") var backoffMax: DurationArgument?
    @Option(help: "A queue holds one job per key, for ever: enqueueing the key again returns the stored job.")
    var uniqueKey: String?
    @Option(help: "Jobs sharing a key count together against the queue's --max-running-per-key (docket queue set).")
    var concurrencyKey: String?
    @Option(help: "A job that must complete first; repeat for several. If it fails or is cancelled, this job is cancelled.")
    var after: [Int64] = []
    @Option(help: "End an attempt that runs longer than this (30s, 10m, ...), even while it reports progress.")
    var timeout: DurationArgument?
    @Option(help: "W3C trace context for the worker (default: $TRACEPARENT).") var traceparent: String?
    @Option(help: "W3C trace state for the worker (default: $TRACESTATE).") var tracestate: String?

    static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
    }

    func validate() throws {
        if delay != nil, at != nil { throw ValidationError("give --delay or --at, not both") }
        if let at, Timestamp.parse(at) == nil { throw ValidationError("--at \(at) is not an RFC 3339 time like 2026-11-23T06:00:00Z") }
        if backoffMax != nil, backoff == nil { throw ValidationError("--backoff-max needs --backoff") }
        if lines, uniqueKey != nil { throw ValidationError("--unique-key names one job; it cannot go with --lines") }
    }

    func run() async throws {
        let template = NewJob(
            queue: queue, priority: priority, runAt: at.flatMap(Timestamp.parse), delay: delay?.duration,
            maxAttempts: maxAttempts, backoff: backoff.map { Backoff(initial: $0.duration, max: backoffMax?.duration) },
            uniqueKey: uniqueKey, concurrencyKey: concurrencyKey, timeout: timeout?.duration,
            traceparent: traceparent ?? Self.environment("TRACEPARENT"), tracestate: tracestate ?? Self.environment("TRACESTATE"),
            after: after)
        if lines {
            try await enqueueLines(template)
            return
        }
        var job = template
        job.payload = try JSONInput.read(argument: payload, file: file, what: "payload") ?? .null
        let result = try await docket.client().enqueue(job)
        if output.json {
            Console.json(result.job.json)
        } else if result.created {
            Console.line("enqueued job \(result.job.id) on \(queue)")
        } else {
            Console.line("job \(result.job.id) already holds unique key \(uniqueKey ?? "") on \(queue) (\(result.job.state.rawValue)); nothing added")
        }
    }

    private func enqueueLines(_ template: NewJob) async throws {
        let text = try JSONInput.readText(argument: payload, file: file) ?? ""
        let payloads = text.split(separator: "\n", omittingEmptySubsequences: true).map { JSONValue(parsingOrQuoting: String($0)) }
        let client = docket.client()
        var ids: [Int64] = []
        for start in stride(from: 0, to: payloads.count, by: 1000) {
            let batch = payloads[start..<min(start + 1000, payloads.count)].map { payload in
                var job = template
                job.payload = payload
                return job
            }
            let results = try await client.enqueue(batch)
            if output.json { results.forEach { Console.json($0.job.json) } }
            ids += results.map(\.job.id)
        }
        if !output.json, let first = ids.first, let last = ids.last {
            Console.line("enqueued \(counted(ids.count, "job")) on \(queue): \(first == last ? "job \(first)" : "jobs \(first) to \(last)")")
        }
    }
}
