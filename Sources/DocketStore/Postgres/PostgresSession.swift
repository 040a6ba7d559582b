import Dispatch
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

/// One PostgreSQL connection, used by one thread at a time, which blocks on each statement.
///
/// The store interface is synchronous because the writer and reader threads own their
/// connections outright (the same shape as the SQLite backend), so the futures of
/// postgres-nio are waited on here, on those threads, never on an event loop. A lost
/// connection is opened again by the next statement; until the server answers, every
/// statement fails with `unavailable` at once instead of waiting out a connect timeout each.
final class PostgresSession {
    let settings: PostgresSettings
    private let logger: Logger
    private var connection: PostgresConnection?
    /// After a failed connect, statements fail at once until this moment.
    private var quietUntil: DispatchTime = .now()
    private var everConnected = false
    /// Statements run on every new connection (session settings).
    private let setup: [String]

    private static let connectionIDs = Atomic<Int>(0)

    init(settings: PostgresSettings, logger: Logger, setup: [String] = []) {
        self.settings = settings
        self.logger = logger
        self.setup = setup
    }

    deinit { close() }

    var isConnected: Bool { connection.map { !$0.isClosed } ?? false }

    func close() {
        if let connection { _ = try? connection.close().wait() }
        connection = nil
        unanswered.removeAll()
    }

    /// The open connection, or a new one.
    func connected() throws(StoreError) -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        connection = nil
        guard DispatchTime.now() >= quietUntil else {
            throw .unavailable("PostgreSQL at \(settings) did not answer a moment ago")
        }
        let id = Self.connectionIDs.wrappingAdd(1, ordering: .relaxed).newValue
        do {
            let fresh = try PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.next(), configuration: settings.configuration, id: id, logger: logger
            ).wait()
            for statement in setup { _ = try fresh.query(PostgresQuery(unsafeSQL: statement), logger: logger).wait() }
            if everConnected { logger.notice("connected to PostgreSQL again", metadata: ["db": "\(settings)"]) }
            everConnected = true
            connection = fresh
            return fresh
        } catch {
            quietUntil = .now() + .milliseconds(250)
            throw .unavailable("cannot connect to PostgreSQL at \(settings): \(Self.describe(error))")
        }
    }

    /// Statements sent and not waited for yet, oldest first.
    private var unanswered: [EventLoopFuture<PostgresQueryResult>] = []

    /// Sends a statement without waiting for its answer, which the next `run` waits for
    /// first: the connection answers in order, so a batch's BEGIN, or its events before
    /// COMMIT, cost no round trip of their own.
    @discardableResult
    func send(_ sql: String, _ values: [PostgresValue] = []) throws(StoreError) -> EventLoopFuture<PostgresQueryResult> {
        let future = try connected().query(PostgresQuery(unsafeSQL: sql, binds: PostgresBindings(values)), logger: logger)
        unanswered.append(future)
        return future
    }

    /// Runs one statement and returns its rows, once every statement sent before it has
    /// answered (a failure of one of those is the failure). `committing` marks the COMMIT,
    /// whose lost answer leaves the outcome unknown (`inDoubt`) rather than "not applied".
    @discardableResult
    func run(_ sql: String, _ values: [PostgresValue] = [], committing: Bool = false) throws(StoreError) -> [PostgresRow] {
        let connection = try connected()
        let earlier = unanswered
        unanswered.removeAll()
        do {
            let future = connection.query(PostgresQuery(unsafeSQL: sql, binds: PostgresBindings(values)), logger: logger)
            for statement in earlier { _ = try statement.wait() }
            return try future.wait().rows
        } catch {
            throw classify(error, committing: committing)
        }
    }

    /// Runs several statements in one go, each ended by `;` at the end of a line (DDL).
    func runScript(_ sql: String) throws(StoreError) {
        for statement in sql.split(separator: ";\n") where statement.contains(where: { !$0.isWhitespace }) {
            try run(String(statement))
        }
    }

    /// Runs a statement and returns its first row, if any.
    func first(_ sql: String, _ values: [PostgresValue] = []) throws(StoreError) -> PostgresRandomAccessRow? {
        try run(sql, values).first.map { $0.makeRandomAccess() }
    }

    /// Sorts a failure into what the client is told: a lost server (`unavailable`, or
    /// `inDoubt` during a commit), a lost race (`conflict`, safe to run again), or a failure
    /// of the statement itself (`storage`).
    private func classify(_ error: any Error, committing: Bool) -> StoreError {
        guard let error = error as? PSQLError else { return .storage(Self.describe(error)) }
        let message = Self.describe(error)
        if error.code == .server {
            let state = error.serverInfo?[.sqlState] ?? ""
            switch state {
            case "40P01", "40001": return .conflict(message)
            // Connection exceptions, admin shutdown, crash shutdown, cannot connect now: the
            // server ended the session, so the transaction is gone with it.
            case _ where state.hasPrefix("08"), "57P01", "57P02", "57P03":
                close()
                return committing ? .inDoubt(message) : .unavailable(message)
            default: return .storage(message)
            }
        }
        // The connection broke under the statement.
        close()
        return committing ? .inDoubt(message) : .unavailable(message)
    }

    /// The server's own words when there are any (PSQLError's description hides them).
    static func describe(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return "\(error)" }
        if let info = error.serverInfo, let text = info[.message] {
            return "\(text) (SQLSTATE \(info[.sqlState] ?? "?"))"
        }
        if let underlying = error.underlying { return "\(error.code): \(underlying)" }
        return "\(error.code)"
    }
}

extension PostgresRandomAccessRow {
    func int(_ index: Int) -> Int64 { (try? self[index].decode(Int64.self)) ?? 0 }
    func optionalInt(_ index: Int) -> Int64? { (try? self[index].decode(Int64?.self)) ?? nil }
    func text(_ index: Int) -> String { (try? self[index].decode(String.self)) ?? "" }
    func optionalText(_ index: Int) -> String? { (try? self[index].decode(String?.self)) ?? nil }
    func bool(_ index: Int) -> Bool { (try? self[index].decode(Bool.self)) ?? false }
    /// A bigint[] column; NULL is none.
    func ids(_ index: Int) -> [Int64] { ((try? self[index].decode([Int64]?.self)) ?? nil) ?? [] }
}

/// Bindings built from a list, as the statements here take them.
extension PostgresBindings {
    init(_ values: [PostgresValue]) {
        self.init(capacity: values.count)
        for value in values {
            switch value {
            case .int(let number): append(number)
            case .text(let text): append(text)
            case .optionalInt(let number): append(number)
            case .optionalText(let text): append(text)
            case .bool(let flag): append(flag)
            case .textArray(let texts): append(texts)
            case .intArray(let numbers): append(numbers)
            }
        }
    }
}

/// A value bound to a statement parameter.
enum PostgresValue {
    case int(Int64)
    case text(String)
    case optionalInt(Int64?)
    case optionalText(String?)
    case bool(Bool)
    case textArray([String])
    case intArray([Int64])
}
