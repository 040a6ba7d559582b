import DocketStore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// Where `--metrics-listen` serves `GET /metrics`: `HOST:PORT`, an IPv6 host in brackets.
public struct MetricsListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `127.0.0.1:9464`, `[::1]:9464` or `localhost:9464`.
    public init(parsing text: String) throws {
        let fail = StartupError(
            "--metrics-listen takes HOST:PORT (127.0.0.1:9464, [::1]:9464), not \"\(text)\"")
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port)
        else { throw fail }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, !host.contains("[") else { throw fail }
        self.init(host: host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// The HTTP side of the metrics: `GET /metrics` (and `HEAD`) answer the exposition, any other
/// path 404, any other method on it 405. It runs on an event loop of its own, so a slow or
/// hostile scraper never shares a thread with the job socket; the store read behind each
/// scrape runs on the reader pool (see `MetricsScrapes`).
final class MetricsHTTPServer: Sendable {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"
    /// An idle keep-alive connection is closed after this long (Prometheus scrapes every 15 s
    /// to 1 min by default, and reconnects when it must).
    static let idleTimeout: TimeAmount = .seconds(120)

    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    /// Binds and starts serving; throws a `StartupError` naming the address when it cannot.
    init(address: MetricsListenAddress, scrapes: MetricsScrapes, logger: Logger) throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(IdleStateHandler(readTimeout: Self.idleTimeout))
                    try pipeline.configureHTTPServerPipeline()
                    try pipeline.addHandler(MetricsHTTPHandler(scrapes: scrapes, logger: logger))
                }
            }
        do {
            channel = try bootstrap.bind(host: address.host, port: address.port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw StartupError("cannot serve metrics on \(address): \(error); choose another --metrics-listen address")
        }
    }

    /// Where scrapes go, with the port the system chose when asked for port 0.
    var url: String {
        guard let address = channel.localAddress, let ip = address.ipAddress, let port = address.port else { return "?" }
        return ip.contains(":") ? "http://[\(ip)]:\(port)/metrics" : "http://\(ip):\(port)/metrics"
    }

    func shutdown() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
}

/// One HTTP connection: answers each request once its head has arrived and its body (ignored)
/// has ended. NIO's pipelining handler holds a pipelined request until the previous answer is
/// out, so answers stay in order.
private final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let scrapes: MetricsScrapes
    private let logger: Logger
    private var head: HTTPRequestHead?

    init(scrapes: MetricsScrapes, logger: Logger) {
        self.scrapes = scrapes
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            answer(head, context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent { context.close(promise: nil) } else { context.fireUserInboundEventTriggered(event) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("metrics connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    private func answer(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        guard path == "/metrics" else {
            respond(.notFound, "only /metrics is served here\n", head: head, context: context)
            return
        }
        guard head.method == .GET || head.method == .HEAD else {
            respond(.methodNotAllowed, "/metrics answers GET and HEAD only\n", head: head, context: context, extra: [("Allow", "GET, HEAD")])
            return
        }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        scrapes.text(on: context.eventLoop).whenComplete { result in
            let (handler, context) = bound.value
            switch result {
            case .success(let text):
                handler.respond(.ok, text, head: head, context: context, contentType: MetricsHTTPServer.contentType)
            case .failure(let error):
                handler.logger.warning("a metrics scrape could not read the store", metadata: ["error": "\(error)"])
                handler.respond(.serviceUnavailable, "the store could not be read: \(error)\n", head: head, context: context)
            }
        }
    }

    private func respond(
        _ status: HTTPResponseStatus, _ body: String, head: HTTPRequestHead, context: ChannelHandlerContext,
        contentType: String = "text/plain; charset=utf-8", extra: [(String, String)] = []
    ) {
        let bytes = context.channel.allocator.buffer(string: body)
        var headers = HTTPHeaders([("Content-Type", contentType), ("Content-Length", String(bytes.readableBytes))] + extra)
        let keepAlive = head.isKeepAlive
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(bytes))), promise: nil) }
        let sent = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive { sent.whenComplete { [channel = context.channel] _ in channel.close(promise: nil) } }
    }
}

/// Scrapes over HTTP: each is a read on the reader pool, and scrapes that arrive while one is
/// being read share its answer, so however many scrapers there are they take at most one
/// reader thread at a time from the job socket's `get`, `list` and `stats`.
final class MetricsScrapes: Sendable {
    private let context: ServerContext
    private let inFlight = NIOLockedValueBox<EventLoopFuture<String>?>(nil)

    init(context: ServerContext) {
        self.context = context
    }

    func text(on eventLoop: any EventLoop) -> EventLoopFuture<String> {
        let context = self.context
        let (future, started) = inFlight.withLockedValue { current -> (EventLoopFuture<String>, Bool) in
            if let current { return (current, false) }
            let future = context.readers.run(on: eventLoop) { reader throws(StoreError) in try context.metricsText(reader) }
            current = future
            return (future, true)
        }
        if started { future.whenComplete { [inFlight] _ in inFlight.withLockedValue { $0 = nil } } }
        return future.hop(to: eventLoop)
    }
}
