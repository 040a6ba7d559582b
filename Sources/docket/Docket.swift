import ArgumentParser
import DocketClient
import DocketProtocol

#if canImport(Glibc)
import Glibc
#endif

@main
struct Docket: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "docket",
        abstract: "Talk to docketd, the Docket job coordinator.",
        discussion: """
            Tables are for people: times are relative ("3m ago"), and colours are used on \
            a terminal unless NO_COLOR is set. Add --json to any command for one JSON \
            value per line, in the protocol's shapes, for scripts and jq.

            Exit status:
              0  success
              1  a failure not listed below (a bad request, a storage error)
              2  usage: the command line is wrong
              3  not found: no such job or schedule
              4  stale version: the job or schedule changed since it was read
              5  invalid state: the job's state does not allow the change
              6  cannot connect: no daemon at the socket, or the connection dropped
              7  refused: the daemon is shutting down, or this user may not use it
              8  docket wait: the job failed
              9  docket wait: the job was cancelled

            Shell completion: `docket --generate-completion-script bash|zsh|fish` \
            prints a script, e.g. for bash into /etc/bash_completion.d/docket, for fish \
            into ~/.config/fish/completions/docket.fish.
            """,
        subcommands: [
            Enqueue.self, Claim.self, Progress.self, Complete.self, Fail.self, Cancel.self, Retry.self, Show.self,
            List.self, Watch.self, Logs.self, Stats.self, Snooze.self, QueueCommand.self, ScheduleCommand.self, Purge.self, Backup.self, Ping.self, Wait.self, Work.self,
            Bench.self, MCPServe.self, Metrics.self, Top.self,
        ])

    @Option(help: ArgumentHelp("docketd's socket.", discussion: "Default: $DOCKET_SOCKET, then the daemon's default path."))
    var socket: String?

    var socketPath: String { socket ?? DefaultPaths.socket() }

    /// A client for one command. A command is short-lived: ride out a daemon restart for a
    /// few seconds, not for the default half minute.
    func client(reconnect: ReconnectPolicy = ReconnectPolicy(giveUpAfter: .seconds(5))) -> DocketClient {
        DocketClient(socketPath: socketPath, reconnect: reconnect)
    }

    /// Runs the command and turns every failure into a message and a documented exit status.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(with: error)
        }
    }

    private static func exit(with error: any Error) -> Never {
        if let status = ExitStatus(error) {
            Console.standardError("docket: \(ExitStatus.message(for: error))")
            Glibc.exit(status.rawValue)
        }
        // Argument parser errors (usage, --help): print as it does, but usage is status 2.
        if exitCode(for: error) == .validationFailure {
            Console.standardError(fullMessage(for: error))
            Glibc.exit(ExitStatus.usage.rawValue)
        }
        Self.exit(withError: error)
    }
}
