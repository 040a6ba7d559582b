import ArgumentParser
import DocketClient
import DocketProtocol

@main
struct Docket: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "docket",
        abstract: "Talk to docketd, the Docket job coordinator.",
        subcommands: [Ping.self])

    @Option(help: "docketd's socket (default: $DOCKET_SOCKET, then the daemon's default path).")
    var socket: String?

    var socketPath: String { socket ?? DefaultPaths.socket() }
}

struct Ping: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check that docketd answers.")

    @ParentCommand var docket: Docket

    func run() async throws {
        let client = try await DocketConnection.connect(socketPath: docket.socketPath)
        let answer = try await client.send(["op": "ping"])
        await client.close()
        guard answer["ok"] == true else {
            print(JSONWriter.text(of: answer))
            throw ExitCode(1)
        }
        print("docketd at \(docket.socketPath) answers")
    }
}
