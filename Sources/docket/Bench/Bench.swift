import ArgumentParser
import DocketClient
import DocketProtocol
import Histogram
import NIOCore

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the daemon: enqueue → claim → complete cycles per second and latency per op.",
        discussion: """
            Producers enqueue jobs while consumers claim and complete them, over --connections \
            connections shared round robin (producers first). With --duration, producers stop \
            at the deadline and consumers finish what was enqueued, so the run leaves no \
            pending jobs; the completed jobs stay in the database, in --queue. Latencies are \
            round trips as the client sees them (a claim's includes its wait for a job); \
            "pickup" is from enqueue sent to claim answered with that job, "cycle" from \
            enqueue sent to complete answered. A consumer's claim waits up to 100 ms for a \
            job, which holds back other \
            answers on a shared connection: give consumers their own connections (the default) \
            for clean numbers. With --rate, producers enqueue at that pace instead of as fast \
            as they can, to see latencies under a given load rather than at saturation.
            """)

    @ParentCommand var docket: Docket
    @OptionGroup var output: OutputOptions
    @Option(help: "Producers: loops of enqueues, each on its connection.") var producers = 1
    @Option(help: "Consumers: loops of claim and complete, each on its connection.") var consumers = 1
    @Option(help: "Connections to spread them over (default: one each).") var connections: Int?
    @Option(help: "Jobs to push through (default 10000 unless --duration).") var count: Int?
    @Option(help: "Enqueue for this long instead of a count (10s, 1m, ...).") var duration: DurationArgument?
    @Option(help: "The queue to use.") var queue = "bench"
    @Option(help: "Size of each job's payload, a JSON string of this many bytes.") var payloadBytes = 64
    @Option(help: "Enqueue at most this many jobs per second in all, evenly paced (latency under a given load).")
    var rate: Int?
    @Option(help: "Give jobs concurrency keys, round robin over this many, and cap the queue at one running job per key.")
    var keys: Int?
    @Option(help: "Enqueue this many jobs (in batches of 1,000) before the clock starts; consumers drain them too.")
    var backlog = 0

    func validate() throws {
        if producers < 1 || consumers < 1 { throw ValidationError("--producers and --consumers must be at least 1") }
        if let connections, connections < 1 { throw ValidationError("--connections must be at least 1") }
        if count != nil, duration != nil { throw ValidationError("give --count or --duration, not both") }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
        if payloadBytes < 0 { throw ValidationError("--payload-bytes cannot be negative") }
        if let rate, rate < 1 || rate > 1_000_000 { throw ValidationError("--rate must be between 1 and 1000000") }
        if let keys, keys < 1 { throw ValidationError("--keys must be at least 1") }
        if backlog < 0 { throw ValidationError("--backlog cannot be negative") }
    }

    func run() async throws {
        var connections: [DocketConnection] = []
        for _ in 0..<(self.connections ?? producers + consumers) {
            connections.append(try await DocketConnection.connect(socketPath: docket.socketPath))
        }
        let lines = BenchRun.Lines(queue: queue, payloadBytes: payloadBytes, keys: keys)
        try await prepare(connections[0], lines)
        let plan = BenchRun(
            connections: connections, producers: producers, consumers: consumers, queue: queue, payloadBytes: payloadBytes,
            limit: duration.map { .deadline(NIODeadline.now() + TimeAmount.milliseconds($0.milliseconds)) } ?? .count(count ?? 10_000),
            rate: rate, backlog: backlog, keys: keys)
        let result = try await plan.run()
        let report = BenchReport(
            result: result, producers: producers, consumers: consumers, connections: connections.count, payloadBytes: payloadBytes,
            queue: queue, pacedRate: rate)
        if output.json { Console.json(report.json) } else { report.lines.forEach(Console.line) }
        for connection in connections { await connection.close() }
    }

    /// With --keys, caps the queue at one running job per key; loads the backlog.
    private func prepare(_ connection: DocketConnection, _ lines: BenchRun.Lines) async throws {
        if keys != nil {
            let current = try await connection.send(["op": "queue_get", "queue": .string(queue)])
            let version = current["queue"]?["version"] ?? 0
            let put = try await connection.send(["op": "queue_put", "queue": .string(queue), "version": version, "max_running_per_key": 1])
            guard put["ok"] == true else { throw CommandFailure(.failure, "cannot cap \(queue) per key: \(JSONWriter.text(of: put))") }
        }
        for start in stride(from: 0, to: backlog, by: 1000) {
            let jobs = (start..<min(backlog, start + 1000)).map { JSONValue.object(lines.job(slot: $0, payload: .null)) }
            let answer = try await connection.send(["op": "enqueue", "jobs": .array(jobs), "fields": []])
            guard answer["ok"] == true else { throw CommandFailure(.failure, "the backlog was refused: \(JSONWriter.text(of: answer))") }
        }
    }
}
