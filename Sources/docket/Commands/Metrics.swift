import ArgumentParser
import DocketClient
import DocketProtocol

struct Metrics: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the daemon's metrics in the Prometheus text format.",
        discussion: """
            The same text docketd --metrics-listen serves at /metrics: job counts and queue lag \
            read from the store (the whole store), and this daemon's counters and histograms \
            since it started. With several docketd on one PostgreSQL database, each has counters \
            of its own.
            """)

    @ParentCommand var docket: Docket
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let text: String
        do {
            text = try await docket.client().metrics()
        } catch let refusal as DocketError where refusal.code == .unknownOp {
            throw CommandFailure(.failure, "this docketd does not serve metrics; upgrade it to the release of this docket")
        }
        if output.json {
            Console.json(["text": .string(text)])
        } else {
            Console.write(to: 1, text)
        }
    }
}
