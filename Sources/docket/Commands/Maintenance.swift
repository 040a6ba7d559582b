import ArgumentParser
import DocketClient
import DocketProtocol

#if canImport(Glibc)
import Glibc
#endif

struct Purge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete finished jobs for good, with their history.",
        discussion: """
            Deletes completed, failed and cancelled jobs that match every filter given; pending \
            and running jobs are never purged. Deletes in pages of --page jobs until none is \
            left, so a busy daemon is held up for one page at a time. Example: \
            docket purge --state completed --older-than 7d
            """)

    @ParentCommand var docket: Docket
    @OptionGroup var output: OutputOptions
    @Option(help: "Only this queue.") var queue: String?
    @Option(help: "Only this state: completed, failed or cancelled.") var state: JobState?
    @Option(help: "Only jobs last changed longer ago than this (7d, 12h, ...).") var olderThan: DurationArgument?
    @Option(help: "Only jobs last changed before this RFC 3339 time.") var before: String?
    @Option(help: "Jobs deleted per request, 1 to 10000.") var page: Int64 = 1000

    func validate() throws {
        if olderThan != nil, before != nil { throw ValidationError("give --older-than or --before, not both") }
        if let before, Timestamp.parse(before) == nil { throw ValidationError("--before \(before) is not an RFC 3339 time like 2026-11-23T06:00:00Z") }
        if let state, !state.isFinal { throw ValidationError("--state must be completed, failed or cancelled: live jobs are never purged") }
    }

    func run() async throws {
        let client = docket.client()
        let cutoff = try olderThan.map { try Console.now() - $0.milliseconds } ?? before.flatMap(Timestamp.parse)
        var total: Int64 = 0
        while true {
            let purged = try await client.purge(queue: queue, state: state, before: cutoff, limit: page)
            total += purged
            if purged < page { break }
        }
        if output.json { Console.json(["purged": .int(total)]) } else { Console.line("purged \(counted(Int(total), "job"))") }
    }
}

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Have the daemon copy its database to a new file.",
        discussion: """
            The copy is one consistent snapshot, taken while the daemon goes on serving. The \
            daemon writes the file, as its own user and in its own view of the file system; \
            it never overwrites one. Restore by stopping docketd and putting the copy in place \
            of the database (and removing its -wal and -shm files).
            """)

    @ParentCommand var docket: Docket
    @OptionGroup var output: OutputOptions
    @Argument(help: "Where to write the copy; a relative path is taken from the current folder.") var path: String

    func run() async throws {
        let absolute = path.hasPrefix("/") ? path : currentFolder() + "/" + path
        let bytes = try await docket.client().backup(path: absolute)
        if output.json {
            Console.json(["path": .string(absolute), "bytes": .int(bytes)])
        } else {
            Console.line("wrote \(absolute) (\(bytes) bytes)")
        }
    }

    private func currentFolder() -> String {
        guard let folder = getcwd(nil, 0) else { return "." }
        defer { free(folder) }
        return String(cString: folder)
    }
}
