import ArgumentParser
import DocketClient
import DocketProtocol

struct Logs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print what a job's command wrote: its stdout to stdout, its stderr to stderr.",
        discussion: """
            docket work sends its command's output to the job's log as it is written. At most \
            1 MiB is kept per job, the oldest dropped first; docket logs says when some was. \
            With --follow it goes on printing until the job ends.
            """)

    @ParentCommand var docket: Docket
    @Argument(help: "The job's id.") var job: Int64
    @Flag(help: "Keep printing new output until the job is completed, failed or cancelled.") var follow = false

    func run() async throws {
        let client = docket.client()
        let (history, dropped) = try await client.log(job: job)
        if dropped > 0 {
            Console.standardError("docket logs: the oldest \(dropped) bytes of job \(job)'s log were dropped (1 MiB is kept)")
        }
        history.events.forEach(Self.print)
        guard follow, !history.job.state.isFinal else { return }
        let since = history.events.last?.seq ?? 0
        for try await event in try await client.watch(.job(job), since: since, logs: true) {
            Self.print(event)
        }
    }

    /// A log event's text, to the stream it was written to.
    static func print(_ event: JobEvent) {
        guard event.kind == .log, let text = event.data?.value["text"]?.string else { return }
        Console.write(to: event.data?.value["stream"] == "stderr" ? 2 : 1, text)
    }
}
