import ArgumentParser
import DocketClient
import DocketProtocol

struct Enqueue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add a job to a queue.",
        discussion: """
            The payload is JSON, or a string when it does not parse as JSON; `-` reads it from \
            standard input. Examples:
              docket enqueue emails '{"to":"a@example.com"}'
              docket enqueue reports --delay 1h --unique-key report:2026-11
              generate-batch | docket enqueue imports -
            """)

    @ParentCommand var docket: Docket
    @OptionGroup var output: OutputOptions

    @Argument(help: "The queue.") var queue: String
    @Argument(help: "The payload: JSON or a string; - for standard input.") var payload: String?
    @Option(help: "Read the payload from this file.") var file: String?
    @Option(help: "Lower runs first (default 0).") var priority: Int64?
    @Option(help: "Make the job eligible this long from now (30s, 5m, 2h, ...).") var delay: DurationArgument?
    @Option(help: "Make the job eligible at this RFC 3339 time.") var at: String?
    @Option(help: "Claims allowed before a failure is final (default 3).") var maxAttempts: Int64?
    @Option(help: "First retry delay after a failure (default 1s); it doubles with each attempt.") var backoff: DurationArgument?
    @Option(help: "Longest retry delay (default 1h).") var backoffMax: DurationArgument?
    @Option(help: "A queue holds one job per key, for ever: enqueueing the key again returns the stored job.")
    var uniqueKey: String?

    func validate() throws {
        if delay != nil, at != nil { throw ValidationError("give --delay or --at, not both") }
        if let at, Timestamp.parse(at) == nil { throw ValidationError("--at \(at) is not an RFC 3339 time like 2026-11-23T06:00:00Z") }
        if backoffMax != nil, backoff == nil { throw ValidationError("--backoff-max needs --backoff") }
    }

    func run() async throws {
        let payload = try JSONInput.read(argument: payload, file: file, what: "payload") ?? .null
        let backoff = backoff.map { Backoff(initial: $0.duration, max: backoffMax?.duration) }
        let result = try await docket.client().enqueue(
            queue: queue, payload: payload, priority: priority, runAt: at.flatMap(Timestamp.parse), delay: delay?.duration,
            maxAttempts: maxAttempts, backoff: backoff, uniqueKey: uniqueKey)
        if output.json {
            Console.json(result.job.json)
        } else if result.created {
            Console.line("enqueued job \(result.job.id) on \(queue)")
        } else {
            Console.line("job \(result.job.id) already holds unique key \(uniqueKey ?? "") on \(queue) (\(result.job.state.rawValue)); nothing added")
        }
    }
}
