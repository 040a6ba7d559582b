import DocketProtocol
import NIOCore
import NIOPosix

/// An async client of `docketd`: one typed method per op, typed errors, pipelining and
/// reconnection.
///
/// All calls share one connection and may run concurrently: they are pipelined on the socket
/// and each caller gets its own answer. Refusals throw ``DocketError`` (with the contract's
/// code); a missing answer throws ``DocketClientError``. After a dropped connection the client
/// reconnects with backoff and resends only what is safe to send twice (see
/// ``ReconnectPolicy``).
///
/// A claim that waits (`wait` > 0) holds back the answers of the requests sent after it on
/// the same connection, so give a worker that long-polls its own client for claims.
///
/// See <doc:AgentLoop> for a complete worker.
public actor DocketClient {
    /// The daemon's socket.
    public nonisolated let socketPath: String
    public nonisolated let reconnect: ReconnectPolicy
    private let group: any EventLoopGroup
    private var connection: DocketConnection?
    private var connecting: Task<DocketConnection, any Error>?
    /// A first connection failing means no daemon: report it at once. After that, a failure
    /// is more likely a restart, worth riding out.
    private var hasConnected = false

    /// A client that connects on its first request.
    public init(
        socketPath: String = DefaultPaths.socket(), reconnect: ReconnectPolicy = .standard,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.socketPath = socketPath
        self.reconnect = reconnect
        self.group = group
    }

    /// A client already connected, so that a daemon that is not there is reported here.
    public static func connect(
        socketPath: String = DefaultPaths.socket(), reconnect: ReconnectPolicy = .standard
    ) async throws -> DocketClient {
        let client = DocketClient(socketPath: socketPath, reconnect: reconnect)
        _ = try await client.currentConnection()
        return client
    }

    /// Closes the connection; a later call opens a new one.
    public func close() async {
        let open = connection
        connection = nil
        connecting = nil
        await open?.close()
    }

    /// Whether a request may be sent again when its answer was lost.
    enum Resend {
        /// Reads: sending twice does no harm.
        case safe
        /// Changes: the first may have been applied.
        case unsafe
    }

    /// Sends a request as it is and returns its answer, a refusal (`ok: false`) included, for
    /// callers that relay answers (`docket mcp`). A change whose answer was lost is not sent
    /// again; a read is.
    public func send(_ request: JSONValue, isRead: Bool = false) async throws -> JSONValue {
        do {
            return try await call(request, resend: isRead ? .safe : .unsafe)
        } catch let refusal as DocketError {
            let error = refusal.raw ?? .object(JSONObject([("code", .string(refusal.rawCode)), ("message", .string(refusal.message))]))
            return .object(JSONObject([("ok", false), ("error", error)]))
        }
    }

    /// Sends one request and returns its `ok: true` answer, or throws the refusal.
    func call(_ request: JSONValue, resend: Resend) async throws -> JSONValue {
        var attempts = ReconnectPolicy.Attempts(reconnect)
        while true {
            let open: DocketConnection
            do {
                open = try await currentConnection()
            } catch let error as DocketClientError {
                // Nothing was sent, so any request may go again once the daemon is back.
                guard hasConnected, let delay = attempts.nextDelay() else { throw error }
                try await Task.sleep(for: delay)
                continue
            }
            let answer: JSONValue
            do {
                answer = try await open.send(request)
            } catch DocketClientError.connectionClosed {
                forget(open)
                guard resend == .safe, let delay = attempts.nextDelay() else { throw DocketClientError.connectionClosed }
                try await Task.sleep(for: delay)
                continue
            }
            if answer["ok"] == true { return answer }
            let error = DocketError(answer: answer)
            switch error.code {
            case .shuttingDown:
                // Applied nothing; the daemon closes this connection once drained.
                forget(open)
                guard let delay = attempts.nextDelay() else { throw error }
                try await Task.sleep(for: delay)
                continue
            case .tooLarge, .forbidden:
                forget(open)  // the daemon closes the connection after these
            default:
                break
            }
            throw error
        }
    }

    func currentConnection() async throws -> DocketConnection {
        // One the daemon closed (a restart, say) is replaced before anything is sent on it.
        if let connection, !connection.isActive { forget(connection) }
        if let connection { return connection }
        if let connecting { return try await connecting.value }
        let path = socketPath
        let group = group
        let task = Task { try await DocketConnection.connect(socketPath: path, group: group) }
        connecting = task
        defer { connecting = nil }
        let open = try await task.value
        connection = open
        hasConnected = true
        return open
    }

    /// Drops a connection that failed, unless another caller has already replaced it.
    private func forget(_ failed: DocketConnection) {
        if connection === failed { connection = nil }
        Task { await failed.close() }
    }
}
