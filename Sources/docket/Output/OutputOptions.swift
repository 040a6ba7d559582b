import ArgumentParser
import DocketClient
import DocketProtocol

struct OutputOptions: ParsableArguments {
    @Flag(help: "Print one JSON value per line (the protocol's shapes) instead of text for people.")
    var json = false

    /// A changed job: its JSON, or a line saying where it is now.
    func report(_ job: Job) {
        if json {
            Console.json(job.json)
        } else {
            Console.line("job \(job.id) is \(Style.of(job.state).apply(job.state.rawValue)), version \(job.version)")
        }
    }
}
