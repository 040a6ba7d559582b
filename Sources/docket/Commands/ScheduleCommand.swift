import ArgumentParser
import DocketClient
import DocketProtocol

struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Manage cron schedules that enqueue jobs.",
        discussion: """
            A schedule enqueues one job into its queue at each time its cron expression \
            matches (five fields, UTC): docket schedule add nightly --cron '0 3 * * *' \
            --queue reports '{"kind":"nightly"}'.
            """,
        subcommands: [ScheduleAdd.self, ScheduleEdit.self, ScheduleRemove.self, ScheduleList.self])

    @ParentCommand var docket: Docket
}

/// Every schedule command prints schedules the same way.
extension OutputOptions {
    func report(_ schedules: [Schedule], now: Int64) {
        if json {
            schedules.forEach { Console.json($0.json) }
            return
        }
        var table = Table("NAME", "CRON", "QUEUE", "NEXT RUN", "LAST RUN", "VERSION", "PAYLOAD")
        for schedule in schedules {
            table.add([
                .init(text: schedule.name), .init(text: schedule.cron.description), .init(text: schedule.queue),
                .init(text: schedule.paused ? "paused" : RelativeTime.describe(schedule.nextRunAt, now: now), style: schedule.paused ? .dim : .plain),
                .init(text: schedule.lastRunAt.map { RelativeTime.describe($0, now: now) } ?? "never"),
                .init(text: String(schedule.version)), .init(text: JobFormat.preview(schedule.payload)),
            ])
        }
        if schedules.isEmpty { Console.line("no schedules") } else { table.print() }
    }
}

/// Reads `--cron` into the expression the daemon will accept, with its parser's message.
private func cronExpression(_ text: String) throws -> CronExpression {
    do { return try CronExpression(text) } catch { throw ValidationError("--cron: \(error.description)") }
}

struct ScheduleAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Create a schedule.")

    @ParentCommand var schedule: ScheduleCommand
    @OptionGroup var output: OutputOptions
    @Argument(help: "The schedule's name.") var name: String
    @Argument(help: "Each job's payload: JSON or a string; - for standard input.") var payload: String?
    @Option(help: "Five fields, UTC: minute hour day-of-month month day-of-week.") var cron: String
    @Option(help: "The queue to enqueue into.") var queue: String
    @Option(help: "Read the payload from this file.") var file: String?
    @Option(help: "The jobs' priority (default 0).") var priority: Int64 = 0
    @Option(help: "The jobs' attempts (default 3).") var maxAttempts: Int64 = Defaults.maxAttempts
    @Flag(help: "Create it paused: it fires nothing until edited with --resume.") var paused = false

    func run() async throws {
        let payload = try JSONInput.read(argument: payload, file: file, what: "payload") ?? .null
        let created = try await schedule.docket.client().schedulePut(
            SchedulePutRequest(
                name: name, cron: try cronExpression(cron), queue: queue, payload: RawJSON(payload), priority: priority,
                maxAttempts: maxAttempts, paused: paused, version: 0))
        output.report([created], now: try Console.now())
    }
}

struct ScheduleEdit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edit", abstract: "Change a schedule; what is not given stays as it is.")

    @ParentCommand var schedule: ScheduleCommand
    @OptionGroup var output: OutputOptions
    @Argument(help: "The schedule's name.") var name: String
    @Option(help: "New cron expression.") var cron: String?
    @Option(help: "New queue.") var queue: String?
    @Option(help: "New payload: JSON or a string.") var payload: String?
    @Option(help: "New priority.") var priority: Int64?
    @Option(help: "New attempts per job.") var maxAttempts: Int64?
    @Flag(help: "Pause (fire nothing) or resume it.") var pause: PauseChange?

    enum PauseChange: String, EnumerableFlag {
        case pause, resume
    }

    func run() async throws {
        let client = schedule.docket.client()
        let current = try await client.scheduleGet(name: name)
        let edited = SchedulePutRequest(
            name: name, cron: try cron.map(cronExpression) ?? current.cron, queue: queue ?? current.queue,
            payload: try payload.map { RawJSON(try JSONInput.parse($0, what: "payload")) } ?? current.payload,
            priority: priority ?? current.priority, maxAttempts: maxAttempts ?? current.maxAttempts,
            paused: pause.map { $0 == .pause } ?? current.paused, version: current.version)
        do {
            output.report([try await client.schedulePut(edited)], now: try Console.now())
        } catch let refusal as DocketError where refusal.code == .staleVersion {
            throw CommandFailure(.staleVersion, "schedule \(name) was changed by someone else while this edit ran; nothing was done. Look at it with docket schedule ls and edit again.")
        }
    }
}

struct ScheduleRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a schedule. Jobs it enqueued stay.")

    @ParentCommand var schedule: ScheduleCommand
    @OptionGroup var output: OutputOptions
    @Argument(help: "The schedule's name.") var name: String

    func run() async throws {
        let client = schedule.docket.client()
        let current = try await client.scheduleGet(name: name)
        do {
            try await client.scheduleDelete(name: name, version: current.version)
        } catch let refusal as DocketError where refusal.code == .staleVersion {
            throw CommandFailure(.staleVersion, "schedule \(name) was changed by someone else while this command ran; nothing was deleted. Look at it with docket schedule ls and try again.")
        }
        if output.json { Console.json(current.json) } else { Console.line("deleted schedule \(name)") }
    }
}

struct ScheduleList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List schedules.")

    @ParentCommand var schedule: ScheduleCommand
    @OptionGroup var output: OutputOptions

    func run() async throws {
        output.report(try await schedule.docket.client().scheduleList(), now: try Console.now())
    }
}
