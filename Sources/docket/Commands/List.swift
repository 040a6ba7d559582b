import ArgumentParser
import DocketClient
import DocketProtocol

extension JobState: ExpressibleByArgument {}

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List jobs, oldest first.",
        discussion: """
            Shows one page (--limit jobs) and says how to get the next; --all walks every page. \
            With --json each job is one line.
            """)

    @ParentCommand var docket: Docket
    @OptionGroup var output: OutputOptions
    @Option(help: "Only this queue.") var queue: String?
    @Option(help: "Only this state: \(JobState.allCases.map(\.rawValue).joined(separator: ", ")).") var state: JobState?
    @Option(help: "Jobs per page, 1 to 1000.") var limit: Int64 = 50
    @Option(help: "Only jobs with a greater id (the cursor docket ls prints).") var after: Int64?
    @Flag(help: "Every page, not just the first.") var all = false

    func run() async throws {
        let client = docket.client()
        var jobs: [Job] = []
        var cursor = after
        repeat {
            let page = try await client.list(queue: queue, state: state, limit: limit, after: cursor)
            if output.json { page.jobs.forEach { Console.json($0.json) } } else { jobs += page.jobs }
            cursor = page.next
        } while all && cursor != nil
        if !output.json {
            if jobs.isEmpty { Console.line("no jobs") } else { JobFormat.table(jobs, now: try Console.now()).print() }
        }
        if let cursor {
            Console.standardError("more jobs: docket ls --after \(cursor)\(filters)")
        }
    }

    private var filters: String {
        [queue.map { " --queue \($0)" }, state.map { " --state \($0.rawValue)" }, limit == 50 ? nil : " --limit \(limit)"]
            .compactMap { $0 }.joined()
    }
}
