import ArgumentParser
import DocketClient
import DocketProtocol

struct Claim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Take the next job of one or more queues and lease it to you.",
        discussion: """
            Prints the job, now running; with no job eligible it prints nothing on standard \
            output (null with --json), says so on standard error, and exits 0. Report within the lease (docket progress) or the daemon takes \
            the job back. To run a command per job, use docket work instead.
            """)

    @ParentCommand var docket: Docket
    @OptionGroup var output: OutputOptions

    @Argument(help: "The queues to take from; the best eligible job of all of them is taken.") var queues: [String]
    @Option(help: "How long the job stays yours without progress (default 30s).") var lease: DurationArgument?
    @Option(help: "Wait this long for a job when none is eligible (default: answer at once).") var wait: DurationArgument?
    @Option(help: "Your name, recorded as the job's worker (default: pid@uid).") var worker: String?

    func validate() throws {
        if queues.isEmpty { throw ValidationError("name at least one queue") }
    }

    func run() async throws {
        let job = try await docket.client().claim(queues: queues, lease: lease?.duration, wait: wait?.duration, worker: worker)
        if output.json {
            Console.json(job?.json ?? .null)
        } else if let job {
            Console.line("claimed job \(job.id) of \(job.queue): version \(job.version), attempt \(job.attempt) of \(job.maxAttempts)")
            Console.line("payload: \(job.payload.text)")
        } else {
            Console.standardError("no job to claim in \(queues.joined(separator: ", "))")
        }
    }
}
