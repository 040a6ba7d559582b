import ArgumentParser
import DocketClient
import DocketProtocol

struct Wait: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Wait until a job is completed, failed or cancelled.",
        discussion: """
            Prints the job's result (completed) or last error (failed), and exits 0 when it \
            completed, 8 when it failed, 9 when it was cancelled. A job that fails and still \
            has attempts left is not final: wait goes on through its retries. To give up \
            after a while: timeout 60 docket wait 42.
            """)

    @ParentCommand var docket: Docket
    @OptionGroup var output: OutputOptions
    @Argument(help: "The job's id.") var job: Int64

    func run() async throws {
        let client = docket.client(reconnect: .standard)
        _ = try await JobFollower(client: client).follow(job) { $0.state.isFinal }
        let final = try await client.get(job: job)
        if output.json {
            Console.json(final.json)
        } else {
            switch final.state {
            case .completed: Console.line(final.result?.text ?? "null")
            case .failed: Console.line(final.lastError?.text ?? "null")
            default: Console.line("job \(job) was \(final.state.rawValue)")
            }
        }
        switch final.state {
        case .completed: return
        case .failed: throw ExitCode(ExitStatus.jobFailed.rawValue)
        default: throw ExitCode(ExitStatus.jobCancelled.rawValue)
        }
    }
}
