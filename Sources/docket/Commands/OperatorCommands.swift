import ArgumentParser
import DocketClient
import DocketProtocol

/// `cancel` and `retry`: commands for people, who do not carry versions around. They read
/// the job's version themselves, so the only way to be refused as stale is a race with
/// another client between the read and the change, and that is reported as such.
protocol OperatorCommand: AsyncParsableCommand {
    var docket: Docket { get }
    var output: OutputOptions { get }
    var job: Int64 { get }
    var version: Int64? { get }
    /// The op's name, for messages.
    static var verb: String { get }
    static func change(_ client: DocketClient, job: Int64, version: Int64) async throws -> Job
}

extension OperatorCommand {
    func run() async throws {
        let client = docket.client()
        let version: Int64
        if let given = self.version { version = given } else { version = try await client.get(job: job).version }
        do {
            output.report(try await Self.change(client, job: job, version: version))
        } catch let refusal as DocketError where refusal.code == .staleVersion && self.version == nil {
            let now = refusal.currentState.map { " (now \($0.rawValue), version \(refusal.currentVersion ?? 0))" } ?? ""
            throw CommandFailure(
                .staleVersion,
                "job \(job) changed while this command ran\(now); nothing was done. Check it with docket show \(job) and \(Self.verb) again if still wanted.")
        }
    }
}

struct Cancel: OperatorCommand {
    static let configuration = CommandConfiguration(
        abstract: "Cancel a pending or running job.",
        discussion: "A running job's worker learns of it at its next report. docket work stops the job's command.")

    @ParentCommand var docket: Docket
    @OptionGroup var output: OutputOptions
    @Argument(help: "The job's id.") var job: Int64
    @Option(help: "Cancel only if the job is still at this version (default: its current one).") var version: Int64?

    static let verb = "cancel"
    static func change(_ client: DocketClient, job: Int64, version: Int64) async throws -> Job {
        try await client.cancel(job: job, version: version)
    }
}

struct Retry: OperatorCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a failed or cancelled job pending again, with its attempts reset.")

    @ParentCommand var docket: Docket
    @OptionGroup var output: OutputOptions
    @Argument(help: "The job's id.") var job: Int64
    @Option(help: "Retry only if the job is still at this version (default: its current one).") var version: Int64?

    static let verb = "retry"
    static func change(_ client: DocketClient, job: Int64, version: Int64) async throws -> Job {
        try await client.retry(job: job, version: version)
    }
}

struct Snooze: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put a running job back to pending for a while, without using up an attempt.",
        discussion: "For the job's worker, which knows the version: docket snooze $DOCKET_JOB_ID --version $DOCKET_JOB_VERSION 30s")

    @ParentCommand var docket: Docket
    @OptionGroup var output: OutputOptions
    @Argument(help: "The job's id.") var job: Int64
    @Option(help: "The job's version, as the worker holds it.") var version: Int64
    @Argument(help: "How long until it may be claimed again (30s, 5m, ...).") var delay: DurationArgument

    func run() async throws {
        output.report(try await docket.client().snooze(job: job, version: version, delay: delay.duration))
    }
}
