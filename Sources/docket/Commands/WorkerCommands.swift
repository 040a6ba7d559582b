import ArgumentParser
import DocketClient
import DocketProtocol

/// The job and version every worker op is fenced by.
struct Fence: ParsableArguments {
    @Argument(help: "The job's id.") var job: Int64
    @Option(help: "The version you last saw (from claim or your last report); a stale one changes nothing.")
    var version: Int64
}

struct Progress: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Report progress on a running job and renew its lease.",
        discussion: "Without a value the stored progress is kept: a pure lease renewal. Prints the new version.")

    @ParentCommand var docket: Docket
    @OptionGroup var output: OutputOptions
    @OptionGroup var fence: Fence

    @Argument(help: "The progress: JSON or a string; - for standard input.") var progress: String?
    @Option(help: "Read the progress from this file.") var file: String?
    @Option(help: "The new lease from now (default: the claim's).") var lease: DurationArgument?

    func run() async throws {
        let value = try JSONInput.read(argument: progress, file: file, what: "progress")
        let job = try await docket.client().progress(job: fence.job, version: fence.version, progress: value, lease: lease?.duration)
        output.report(job)
    }
}

struct Complete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Complete a running job with its result.")

    @ParentCommand var docket: Docket
    @OptionGroup var output: OutputOptions
    @OptionGroup var fence: Fence

    @Argument(help: "The result: JSON or a string; - for standard input.") var result: String?
    @Option(help: "Read the result from this file.") var file: String?

    func run() async throws {
        let value = try JSONInput.read(argument: result, file: file, what: "result") ?? .null
        output.report(try await docket.client().complete(job: fence.job, version: fence.version, result: value))
    }
}

struct Fail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fail a running job.",
        discussion: "While attempts remain the job goes back to pending after its backoff; --no-retry fails it for good.")

    @ParentCommand var docket: Docket
    @OptionGroup var output: OutputOptions
    @OptionGroup var fence: Fence

    @Argument(help: "The error: JSON or a string; - for standard input.") var error: String?
    @Option(help: "Read the error from this file.") var file: String?
    @Flag(inversion: .prefixedNo, help: "Retry while attempts remain.") var retry = true
    @Option(help: "Retry after exactly this long instead of the backoff.") var retryIn: DurationArgument?

    func run() async throws {
        let value = try JSONInput.read(argument: error, file: file, what: "error") ?? .null
        let job = try await docket.client().fail(
            job: fence.job, version: fence.version, error: value, retry: retry, retryIn: retryIn?.duration)
        output.report(job)
    }
}
