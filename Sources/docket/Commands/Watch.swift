import ArgumentParser
import DocketClient
import DocketProtocol

struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print job events as they happen.",
        discussion: """
            Follows every job, one queue, or one job (until its final event). Rides out a \
            daemon restart without losing or repeating events. Stop with Ctrl-C.
            """)

    @ParentCommand var docket: Docket
    @OptionGroup var output: OutputOptions
    @Option(help: "Only this queue.") var queue: String?
    @Option(help: "Only this job.") var job: Int64?
    @Option(help: "First replay the stored events after this seq (0 for all of them).") var since: Int64?

    func validate() throws {
        if queue != nil, job != nil { throw ValidationError("give --queue or --job, not both") }
    }

    func run() async throws {
        let scope: WatchScope = job.map { .job($0) } ?? queue.map { .queue($0) } ?? .everything
        let events: AsyncThrowingStream<JobEvent, any Error>
        do {
            events = try await docket.client(reconnect: .standard).watch(scope, since: since)
        } catch let refusal as DocketError where refusal.code == .unknownOp {
            throw CommandFailure(.failure, "this docketd does not serve watch; upgrade it to the release of this docket")
        }
        for try await event in events {
            Console.line(output.json ? JSONWriter.text(of: event.json) : JobFormat.eventLine(event))
        }
    }
}
