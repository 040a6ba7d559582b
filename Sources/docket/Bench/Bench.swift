import ArgumentParser
import DocketClient
import DocketProtocol
import Histogram

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the daemon: enqueue → claim → complete cycles per second and latency per op.",
        discussion: """
            Producers enqueue jobs while consumers claim and complete them, over --connections \
            connections shared round robin (producers first). With --duration, producers stop \
            at the deadline and consumers finish what was enqueued, so the run leaves no \
            pending jobs; the completed jobs stay in the database, in --queue. Latencies are \
            round trips as the client sees them; "cycle" is from enqueue sent to complete \
            answered. A consumer's claim waits up to 100 ms for a job, which holds back other \
            answers on a shared connection: give consumers their own connections (the default) \
            for clean numbers.
            """)

    @ParentCommand var docket: Docket
    @OptionGroup var output: OutputOptions
    @Option(help: "Tasks enqueueing.") var producers = 1
    @Option(help: "Tasks claiming and completing.") var consumers = 1
    @Option(help: "Connections to spread them over (default: one each).") var connections: Int?
    @Option(help: "Jobs to push through (default 10000 unless --duration).") var count: Int?
    @Option(help: "Enqueue for this long instead of a count (10s, 1m, ...).") var duration: DurationArgument?
    @Option(help: "The queue to use.") var queue = "bench"
    @Option(help: "Size of each job's payload, a JSON string of this many bytes.") var payloadBytes = 64

    func validate() throws {
        if producers < 1 || consumers < 1 { throw ValidationError("--producers and --consumers must be at least 1") }
        if let connections, connections < 1 { throw ValidationError("--connections must be at least 1") }
        if count != nil, duration != nil { throw ValidationError("give --count or --duration, not both") }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
        if payloadBytes < 0 { throw ValidationError("--payload-bytes cannot be negative") }
    }

    func run() async throws {
        let clients = (0..<(connections ?? producers + consumers)).map { _ in docket.client(reconnect: .never) }
        for client in clients { try await client.ping() }
        let plan = BenchRun(
            clients: clients, producers: producers, consumers: consumers, queue: queue,
            payload: .string(String(repeating: "x", count: payloadBytes)),
            limit: duration.map { .deadline(ContinuousClock.now + $0.duration) } ?? .count(count ?? 10_000))
        let result = try await plan.run()
        let report = BenchReport(
            result: result, producers: producers, consumers: consumers, connections: clients.count, payloadBytes: payloadBytes,
            queue: queue)
        if output.json { Console.json(report.json) } else { report.lines.forEach(Console.line) }
        for client in clients { await client.close() }
    }
}
