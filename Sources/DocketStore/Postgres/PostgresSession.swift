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
        for (_, answer) in takeUnsent() { answer.fail(PostgresError.connectionClosed) }
        prepared.removeAll()
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
            prepared.removeAll()
            return fresh
        } catch {
            quietUntil = .now() + .milliseconds(250)
            throw .unavailable("cannot connect to PostgreSQL at \(settings): \(Self.describe(error))")
        }
    }

    /// Statements sent and not waited for yet, oldest first.
    private var unanswered: [EventLoopFuture<[PostgresRow]>] = []
    /// Statements handed to `send` that are not on the connection yet, oldest first, with
    /// the promises of their answers. They go on the connection from its event loop, all of
    /// them in one task, when the thread next waits.
    private var unsent: [(Statement, EventLoopPromise<[PostgresRow]>)] = []

    /// Sends a statement without waiting for its answer, which the next `run` or `answers`
    /// waits for first: the connection answers in order, so a batch's BEGIN, or its events
    /// before COMMIT, cost no round trip of their own.
    @discardableResult
    func send(_ sql: String, _ values: [PostgresValue] = [], planAfresh: Bool = false) throws(StoreError)
        -> EventLoopFuture<[PostgresRow]>
    {
        let connection = try connected()
        let statement = try statement(connection, sql, values, planAfresh: planAfresh)
        let answer = connection.eventLoop.makePromise(of: [PostgresRow].self)
        unsent.append((statement, answer))
        unanswered.append(answer.futureResult)
        return answer.futureResult
    }

    /// Runs one statement and returns its rows, once every statement sent before it has
    /// answered (a failure of one of those is the failure). `committing`: see `answers`.
    /// `planAfresh`: the statement is never prepared, so each run gets a plan made for its
    /// values (see `statement`).
    @discardableResult
    func run(_ sql: String, _ values: [PostgresValue] = [], committing: Bool = false, planAfresh: Bool = false) throws(StoreError)
        -> [PostgresRow]
    {
        try answers([try send(sql, values, planAfresh: planAfresh)], committing: committing)[0]
    }

    /// The rows of statements sent with `send`, once every statement sent so far has
    /// answered (a failure of any is the failure): a batch's statements that do not depend
    /// on each other go out together and cost one round trip. `committing` marks a wait
    /// that includes the COMMIT, whose lost answer leaves the outcome unknown (`inDoubt`)
    /// rather than "not applied".
    ///
    /// The statements go to postgres-nio's event loop in one task, and the thread sleeps
    /// once, until the last answer. Called from this thread, each statement took four tasks
    /// on the loop (its write and the callbacks on its future), each a wake-up of the loop
    /// that preempted the writer on a small machine, and each `wait()` on a future took
    /// one more, however many answers were already in.
    func answers(_ sent: [EventLoopFuture<[PostgresRow]>], committing: Bool = false) throws(StoreError) -> [[PostgresRow]] {
        let pending = unanswered
        unanswered.removeAll()
        do {
            let rows = try outcomes(of: pending).map { try $0.get() }
            // A future answered in an earlier wait (a `run` between its `send` and this)
            // is read the slow way.
            return try sent.map { future in try pending.firstIndex { $0 === future }.map { rows[$0] } ?? future.wait() }
        } catch {
            throw classify(error, committing: committing)
        }
    }

    /// Puts the queued statements on the connection and sleeps until every one of `pending`
    /// has answered, in one task on the connection's event loop.
    private func outcomes(of pending: [EventLoopFuture<[PostgresRow]>]) -> [Result<[PostgresRow], any Error>] {
        guard let loop = pending.last?.eventLoop else { return [] }
        let outcomes = Outcomes()
        let answered = DispatchSemaphore(value: 0)
        let statements = takeUnsent()
        loop.execute {
            Self.put(statements)
            EventLoopFuture.whenAllComplete(pending, on: loop).whenSuccess { results in
                outcomes.results.withLock { $0 = results }
                answered.signal()
            }
        }
        answered.wait()
        return outcomes.results.withLock { $0 }
    }

    /// The answers of a round, handed from the event loop to the waiting thread.
    private final class Outcomes: Sendable {
        let results = Mutex<[Result<[PostgresRow], any Error>]>([])
    }

    /// Waits for every statement sent and not waited for yet; throws the first failure.
    private func waitForUnanswered() throws(StoreError) {
        _ = try answers([])
    }

    /// Statements prepared on this connection, by their text.
    private var prepared: [String: PreparedQuery] = [:]
    /// Past this many prepared statements, further ones go unnamed, so that statement texts
    /// built per call (a list with its filters) cannot pile up plans on the server.
    static let preparedLimit = 256

    /// A statement ready to go on the connection. One with parameters (every transition,
    /// claim and event insert) is prepared the first time this connection sees it and
    /// executed by name from then on: parsed and planned once, instead of on every call,
    /// which cost PostgreSQL several times the statements' own execution time. One without
    /// (BEGIN, COMMIT) goes as it is, and so does one whose best plan depends on its values
    /// (`planAfresh`).
    private func statement(
        _ connection: PostgresConnection, _ sql: String, _ values: [PostgresValue], planAfresh: Bool
    ) throws(StoreError) -> Statement {
        if let statement = prepared[sql] { return .prepared(statement, values.map(\.data)) }
        guard !values.isEmpty, !planAfresh, prepared.count < Self.preparedLimit else {
            return .unnamed(connection, PostgresQuery(unsafeSQL: sql, binds: PostgresBindings(values)), logger)
        }
        let statement: PreparedQuery
        do {
            // Waited for here, once per statement and connection, after the statements
            // queued before it: executing it by name must follow the preparation on the
            // wire, and nothing may slip in between.
            startUnsent(on: connection.eventLoop)
            statement = try connection.prepare(query: Self.typed(sql, values)).wait()
        } catch {
            // A statement sent before it may have failed and aborted the transaction: that
            // failure is the one to report.
            try waitForUnanswered()
            throw classify(error, committing: false)
        }
        prepared[sql] = statement
        return .prepared(statement, values.map(\.data))
    }

    /// Puts the queued statements on the connection without waiting for their answers.
    private func startUnsent(on loop: any EventLoop) {
        let statements = takeUnsent()
        guard !statements.isEmpty else { return }
        loop.execute { Self.put(statements) }
    }

    /// The queued statements, which the caller puts on the connection.
    private func takeUnsent() -> [(Statement, EventLoopPromise<[PostgresRow]>)] {
        defer { unsent.removeAll() }
        return unsent
    }

    /// Puts statements on the connection, in order; runs on the connection's event loop,
    /// where postgres-nio schedules nothing more for them.
    private static func put(_ statements: [(Statement, EventLoopPromise<[PostgresRow]>)]) {
        for (statement, answer) in statements { statement.execute().cascade(to: answer) }
    }

    /// A statement with its values, as it goes on the connection.
    private enum Statement: Sendable {
        case prepared(PreparedQuery, [PostgresData])
        case unnamed(PostgresConnection, PostgresQuery, Logger)

        func execute() -> EventLoopFuture<[PostgresRow]> {
            switch self {
            case .prepared(let statement, let values): statement.execute(values)
            case .unnamed(let connection, let query, let logger): connection.query(query, logger: logger).map(\.rows)
            }
        }
    }

    /// `sql` with the type of every parameter that has no cast written after it: postgres-nio
    /// prepares a `PreparedQuery` without parameter types, which PostgreSQL would then infer
    /// from the context (an int4 where an int8 is bound, say), while an unnamed statement
    /// states them. With the types written in, both mean the same.
    static func typed(_ sql: String, _ values: [PostgresValue]) -> String {
        var result = ""
        result.reserveCapacity(sql.utf8.count + values.count * 8)
        var characters = sql.makeIterator()
        var pending = characters.next()
        var quoted = false
        while let character = pending {
            pending = characters.next()
            result.append(character)
            if character == "'" { quoted.toggle() }
            guard character == "$", !quoted else { continue }
            var number = 0
            while let digit = pending?.wholeNumberValue, pending?.isASCII == true {
                number = number * 10 + digit
                result.append(pending!)
                pending = characters.next()
            }
            guard number >= 1, number <= values.count, pending != ":" else { continue }
            result += "::" + values[number - 1].typeName
        }
        return result
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

    /// Sorts a failure into what the client is told: a failure of the statement itself
    /// (`storage`), a lost race (`conflict`, safe to run again), or a lost server
    /// (`unavailable`, or `inDoubt` during a commit).
    private func classify(_ error: any Error, committing: Bool) -> StoreError {
        let message = Self.describe(error)
        switch Self.sqlState(error) {
        case "40P01", "40001": return .conflict(message)
        // Connection exceptions, admin shutdown, crash shutdown, cannot connect now: the
        // server ended the session, so the transaction is gone with it.
        case let state? where !state.hasPrefix("08") && !["57P01", "57P02", "57P03"].contains(state):
            return .storage(message)
        default:
            // No SQLSTATE: the connection broke under the statement.
            close()
            return committing ? .inDoubt(message) : .unavailable(message)
        }
    }

    /// The SQLSTATE of a statement the server refused. Statements executed by name report
    /// through postgres-nio's older error type, `PostgresError`.
    private static func sqlState(_ error: any Error) -> String? {
        switch error {
        case let error as PSQLError where error.code == .server: error.serverInfo?[.sqlState] ?? ""
        case PostgresError.server(let refusal): refusal.fields[.sqlState] ?? ""
        default: nil
        }
    }

    /// The server's own words when there are any (PSQLError's description hides them).
    static func describe(_ error: any Error) -> String {
        if case PostgresError.server(let refusal) = error, let text = refusal.fields[.message] {
            return "\(text) (SQLSTATE \(refusal.fields[.sqlState] ?? "?"))"
        }
        guard let error = error as? PSQLError else { return "\(error)" }
        if let info = error.serverInfo, let text = info[.message] {
            return "\(text) (SQLSTATE \(info[.sqlState] ?? "?"))"
        }
        if let underlying = error.underlying { return "\(error.code): \(underlying)" }
        return "\(error.code)"
    }
}
