import ArgumentParser
import DocketClient
import DocketProtocol

struct Ping: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check that docketd answers, and show its release and limits.")

    @ParentCommand var docket: Docket
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let client = docket.client(reconnect: .never)
        let server = try await client.hello(client: "docket-cli")
        try await client.ping()
        if output.json {
            Console.json([
                "server": ["name": .string(server.name), "version": .string(server.version)], "protocol": 1,
                "socket": .string(docket.socketPath), "store": .string(server.store),
            ])
        } else {
            Console.line("\(server.name) \(server.version) at \(docket.socketPath) answers (protocol 1, \(server.store) store)")
        }
    }
}
