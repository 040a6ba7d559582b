import ArgumentParser
import DocketClient
import DocketProtocol

struct Top: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A live view of the daemon: queues, running jobs, the last failures.",
        discussion: """
            Per queue: pending and running jobs, completed and failed (for good) per second over \
            the last 10 s, the age of the oldest eligible pending job (lag), and whether it is \
            paused or limited. Below, the running jobs of the selected queue, longest-running \
            first (id, queue, worker, age, progress, lease left), and its last failures with \
            their errors. Keys: Up/Down (or k/j) select a queue, p pauses or resumes it, q \
            quits. It redraws once a second, from watch events and one poll of the daemon.

            When standard output is not a terminal it prints one plain snapshot and exits.
            Colours are left out when NO_COLOR is set.
            """)

    @ParentCommand var docket: Docket

    func run() async throws {
        let feed = TopFeed(client: docket.client(reconnect: .standard), socketPath: docket.socketPath)
        let title = await Self.title(feed.client, socketPath: docket.socketPath)
        if Terminal.isInteractive {
            try await live(feed, title: title)
        } else {
            try await snapshot(feed, title: title)
        }
    }

    /// The full-screen view, until q or a signal.
    private func live(_ feed: TopFeed, title: String) async throws {
        let (events, _) = try await feed.begin()
        let terminal = Terminal()
        let (inputs, continuation) = terminal.start()
        defer { terminal.restore() }
        let watcher = Task {
            do {
                for try await event in events { feed.receive(event) }
            } catch {
                feed.update { $0.status = "the watch ended: \(ExitStatus.message(for: error))" }
            }
        }
        let poller = Task {
            while !Task.isCancelled {
                await feed.poll()
                continuation.yield(.tick)
                try? await Task.sleep(for: .seconds(1))
            }
        }
        defer {
            watcher.cancel()
            poller.cancel()
        }
        for await input in inputs {
            switch input {
            case .quit, .key(.character("q")), .key(.character("Q")): return
            case .key(.up), .key(.character("k")): feed.update { $0.select(step: -1) }
            case .key(.down), .key(.character("j")): feed.update { $0.select(step: 1) }
            case .key(.character("p")), .key(.character("P")):
                Task {
                    await feed.togglePause()
                    continuation.yield(.resize)
                }
            case .key, .resize, .tick: break
            }
            let size = terminal.size
            let screen = TopScreen(state: feed.current, width: size.width, now: try Console.now(), title: title, styled: Console.styled)
            terminal.draw(screen.lines(height: size.height))
        }
    }

    /// One plain snapshot for a pipe or a file: the replayed recent events stand in for the
    /// last seconds of a live view.
    private func snapshot(_ feed: TopFeed, title: String) async throws {
        let (events, latest) = try await feed.begin()
        if latest > 0 {
            let replay = Task {
                for try await event in events {
                    feed.receive(event)
                    if event.seq >= latest { return }
                }
            }
            let timeout = Task {
                try await Task.sleep(for: .seconds(10))
                replay.cancel()
            }
            _ = try? await replay.value
            timeout.cancel()
        }
        await feed.poll()
        let width = DefaultPaths.environment("COLUMNS").flatMap(Int.init).map { max($0, 80) } ?? 80
        let screen = TopScreen(state: feed.current, width: width, now: try Console.now(), title: title, styled: false)
        for line in screen.lines(height: nil) { Console.line(line) }
    }

    /// "docket top: docketd 0.1.0 (sqlite) on /run/docket/docket.sock"
    private static func title(_ client: DocketClient, socketPath: String) async -> String {
        guard let info = try? await client.hello(client: "docket top") else { return "docket top: \(socketPath)" }
        return "docket top: \(info.name) \(info.version) (\(info.store)) on \(socketPath)"
    }
}
