import ArgumentParser
import DocketClient
import DocketProtocol

struct QueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Show queues; pause them; limit how many of their jobs run and how fast they are claimed.",
        discussion: """
            At most 50 claims a minute and one job per repository at a time:
            docket queue set llm --rate 50/1m --max-running-per-key 1, and enqueue with \
            --concurrency-key REPO. Each command reads the settings' version itself.
            """,
        subcommands: [QueueList.self, QueueShow.self, QueuePause.self, QueueResume.self, QueueSet.self])

    @ParentCommand var docket: Docket
}

extension OutputOptions {
    func report(_ queues: [QueueInfo]) {
        if json {
            queues.forEach { Console.json($0.json) }
            return
        }
        var table = Table("QUEUE", "STATE", "MAX RUNNING", "PER KEY", "RATE", "PENDING", "RUNNING", "COMPLETED", "FAILED", "VERSION")
        for queue in queues {
            let settings = queue.settings
            table.add([
                .init(text: settings.name),
                .init(text: settings.paused ? "paused" : "active", style: settings.paused ? .dim : .plain),
                .init(text: settings.maxRunning.map(String.init) ?? "-"),
                .init(text: settings.maxRunningPerKey.map(String.init) ?? "-"),
                .init(text: settings.rate.map { "\($0.max)/\(DurationArgument.text($0.perMs))" } ?? "-"),
                .init(text: String(queue.counts[.pending] ?? 0)), .init(text: String(queue.counts[.running] ?? 0)),
                .init(text: String(queue.counts[.completed] ?? 0)), .init(text: String(queue.counts[.failed] ?? 0)),
                .init(text: String(settings.version)),
            ])
        }
        if queues.isEmpty { Console.line("no queues") } else { table.print() }
    }
}

/// A limit on the command line: a count, or `none` to clear it.
struct LimitArgument: ExpressibleByArgument {
    let value: Int64?

    init?(argument: String) {
        if argument == "none" {
            value = nil
        } else if let count = Int64(argument), count >= 1 {
            value = count
        } else {
            return nil
        }
    }
}

/// `--rate MAX/DURATION` (`50/1m`, `10/1s`), or `none`.
struct RateArgument: ExpressibleByArgument {
    let value: RateLimit?

    init?(argument: String) {
        if argument == "none" {
            value = nil
            return
        }
        let parts = argument.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, let count = Int64(parts[0]), count >= 1, let window = DurationText.milliseconds(parts[1]), window >= 1
        else { return nil }
        value = RateLimit(max: count, perMs: window)
    }
}

/// Reads the present version and applies the change to it; a race with another change in
/// between is reported, never retried over the other's edit.
private func change(_ queue: QueueCommand, _ name: String, _ build: (Int64) -> QueuePutRequest) async throws -> QueueInfo {
    let client = queue.docket.client()
    let current = try await client.queueGet(name: name)
    do {
        return try await client.queuePut(build(current.settings.version))
    } catch let refusal as DocketError where refusal.code == .staleVersion {
        throw CommandFailure(
            .staleVersion,
            "queue \(name) settings were changed by someone else while this command ran; nothing was done. Look at them with docket queue show \(name) and try again.")
    }
}

struct QueueList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List queues with their settings and job counts.")

    @ParentCommand var queue: QueueCommand
    @OptionGroup var output: OutputOptions

    func run() async throws {
        output.report(try await queue.docket.client().queueList())
    }
}

struct QueueShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one queue's settings and job counts.")

    @ParentCommand var queue: QueueCommand
    @OptionGroup var output: OutputOptions
    @Argument(help: "The queue.") var name: String

    func run() async throws {
        output.report([try await queue.docket.client().queueGet(name: name)])
    }
}

/// `pause` and `resume`: one setting, read and written at its present version.
protocol QueuePauseCommand: AsyncParsableCommand {
    var queue: QueueCommand { get }
    var output: OutputOptions { get }
    var name: String { get }
    static var pauses: Bool { get }
}

extension QueuePauseCommand {
    func run() async throws {
        output.report([try await change(queue, name) { QueuePutRequest(queue: name, version: $0, paused: Self.pauses) }])
    }
}

struct QueuePause: QueuePauseCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause", abstract: "Hand out no more jobs of the queue; running ones keep their leases.")
    static let pauses = true

    @ParentCommand var queue: QueueCommand
    @OptionGroup var output: OutputOptions
    @Argument(help: "The queue.") var name: String
}

struct QueueResume: QueuePauseCommand {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "Hand out the queue's jobs again.")
    static let pauses = false

    @ParentCommand var queue: QueueCommand
    @OptionGroup var output: OutputOptions
    @Argument(help: "The queue.") var name: String
}

struct QueueSet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set", abstract: "Change a queue's limits; what is not given stays as it is, none clears one.")

    @ParentCommand var queue: QueueCommand
    @OptionGroup var output: OutputOptions
    @Argument(help: "The queue.") var name: String
    @Option(help: "Most jobs of the queue running at once, or none.") var maxRunning: LimitArgument?
    @Option(help: "Most running jobs sharing one --concurrency-key, or none.") var maxRunningPerKey: LimitArgument?
    @Option(help: "Most claims per window, as MAX/DURATION (50/1m, 10/1s), or none.") var rate: RateArgument?

    func validate() throws {
        if maxRunning == nil, maxRunningPerKey == nil, rate == nil {
            throw ValidationError("give at least one of --max-running, --max-running-per-key, --rate")
        }
    }

    func run() async throws {
        output.report([
            try await change(queue, name) {
                QueuePutRequest(
                    queue: name, version: $0, maxRunning: maxRunning.map(\.value), maxRunningPerKey: maxRunningPerKey.map(\.value),
                    rate: rate.map(\.value))
            }
        ])
    }
}
