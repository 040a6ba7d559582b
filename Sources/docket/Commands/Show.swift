import ArgumentParser
import DocketClient
import DocketProtocol

struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a job and its history.")

    @ParentCommand var docket: Docket
    @OptionGroup var output: OutputOptions
    @Argument(help: "The job's id.") var job: Int64

    func run() async throws {
        let history = try await docket.client().history(job: job)
        if output.json {
            Console.json(["job": history.job.json, "events": .array(history.events.map(\.json))])
        } else {
            for line in JobFormat.details(history.job, events: history.events, now: try Console.now()) { Console.line(line) }
        }
    }
}
