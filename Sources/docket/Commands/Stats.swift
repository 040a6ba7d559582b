import ArgumentParser
import DocketClient
import DocketProtocol

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Count jobs by queue and state.")

    @ParentCommand var docket: Docket
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let stats = try await docket.client().stats()
        if output.json {
            Console.json(stats.json)
            return
        }
        var table = Table(headers: ["QUEUE"] + JobState.allCases.map { $0.rawValue.uppercased() })
        for entry in stats.queues {
            let counts = JobState.allCases.map { state in entry.counts.first { $0.state == state }?.count ?? 0 }
            table.add([Table.Cell(text: entry.queue)] + counts.map { Table.Cell(text: String($0)) })
        }
        if stats.queues.isEmpty { Console.line("no jobs") } else { table.print() }
        let uptime = RelativeTime.span(UInt64(max(stats.uptimeMs, 0)))
        Console.line("\(counted(stats.connections, "connection")), \(counted(stats.waitingClaims, "waiting claim")), up \(uptime)")
    }
}

/// "1 connection", "2 connections".
func counted(_ count: Int, _ noun: String) -> String {
    "\(count) \(noun)\(count == 1 ? "" : "s")"
}
