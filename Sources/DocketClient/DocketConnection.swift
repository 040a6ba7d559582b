import DocketProtocol
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// One connection to `docketd`. Requests may be sent concurrently: they are pipelined on the
/// socket and each caller gets its own answer (the daemon answers in request order).
///
/// This is the raw layer: JSON in, JSON out, no retries. ``DocketClient`` builds typed calls,
/// errors and reconnection on top of it.
public final class DocketConnection: Sendable {
    private let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
    }

    /// Connects to the daemon's Unix socket.
    ///
    /// - Parameter onUnrequested: receives every line that answers no request: the event lines
    ///   (`{"event": {…}}`) of a `watch` on this connection, and the `watch_overflow` error
    ///   that ends one. Such lines never reach `send`.
    public static func connect(
        socketPath: String, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        onUnrequested: (@Sendable (JSONValue) -> Void)? = nil
    ) async throws -> DocketConnection {
        do {
            let channel = try await ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ResponseHandler(onUnrequested: onUnrequested))
                    }
                }
                .connect(unixDomainSocketPath: socketPath)
                .get()
            return DocketConnection(channel: channel)
        } catch let error as IOError {
            throw DocketClientError.cannotConnect(path: socketPath, reason: String(cString: strerror(error.errnoCode)))
        } catch {
            throw DocketClientError.cannotConnect(path: socketPath, reason: "\(error)")
        }
    }

    /// Sends one request object and returns the daemon's answer object (`ok` true or false).
    public func send(_ request: JSONValue) async throws -> JSONValue {
        var writer = JSONWriter()
        writer.value(request)
        return try await send(line: writer.bytes)
    }

    /// Sends one raw request line (the newline is added) and returns the answer.
    public func send(line: [UInt8]) async throws -> JSONValue {
        do {
            return try await answer(toLine: line).get()
        } catch is ChannelError {
            throw DocketClientError.connectionClosed
        }
    }

    /// Sends one raw request line (the newline is added); the answer completes the future on
    /// ``eventLoop``. For callers that chain requests on the loop without a task switch per
    /// answer (`docket bench`, whose own CPU would otherwise crowd the daemon it measures).
    public func answer(toLine line: [UInt8]) -> EventLoopFuture<JSONValue> {
        answerLine(toLine: line).flatMapThrowing(Self.parse(answer:))
    }

    /// An answer line as the JSON object it must be.
    public static func parse(answer line: ByteBuffer) throws -> JSONValue {
        guard let value = ResponseHandler.parse(line), case .object = value else {
            throw DocketClientError.invalidResponse(String(buffer: line))
        }
        return value
    }

    /// Like ``answer(toLine:)``, but the answer line is left as received (without its
    /// newline), for callers that need little of it: parsing a whole job costs more than the
    /// rest of a round trip on the client's side.
    public func answerLine(toLine line: [UInt8]) -> EventLoopFuture<ByteBuffer> {
        let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
        var bytes = line
        bytes.append(UInt8(ascii: "\n"))
        channel.writeAndFlush(ResponseHandler.Outbound(bytes: bytes, answer: promise)).cascadeFailure(to: promise)
        return promise.futureResult
    }

    /// Whether an answer line says `"ok": true`. The daemon writes `ok` first in every
    /// answer (the contract fixes the order of members), so this reads its first ten bytes.
    public static func isSuccess(_ line: ByteBuffer) -> Bool {
        line.readableBytesView.starts(with: ResponseHandler.successPrefix)
    }

    /// The loop this connection's answers arrive on.
    public var eventLoop: any EventLoop { channel.eventLoop }

    /// Whether the connection is still open; a closed one delivers no more answers.
    public var isActive: Bool { channel.isActive }

    public func close() async {
        try? await channel.close()
    }

    /// Returns when the connection has closed, from either side.
    public func closed() async {
        try? await channel.closeFuture.get()
    }
}

/// Matches answer lines to the requests waiting for them, first in first out.
final class ResponseHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = Outbound
    typealias OutboundOut = ByteBuffer

    struct Outbound {
        var bytes: [UInt8]
        var answer: EventLoopPromise<ByteBuffer>
    }

    static func parse(_ line: ByteBuffer) -> JSONValue? {
        try? JSONParser.parse(line.readableBytesView, maximumDepth: 256)
    }

    static let answerPrefix = Array(#"{"ok":"#.utf8)
    static let successPrefix = Array(#"{"ok":true"#.utf8)

    private var waiting = CircularBuffer<EventLoopPromise<ByteBuffer>>()
    private var buffer: ByteBuffer?
    private var scanned = 0
    private let onUnrequested: (@Sendable (JSONValue) -> Void)?

    init(onUnrequested: (@Sendable (JSONValue) -> Void)?) {
        self.onUnrequested = onUnrequested
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let outbound = unwrapOutboundIn(data)
        waiting.append(outbound.answer)
        context.write(wrapOutboundOut(context.channel.allocator.buffer(bytes: outbound.bytes)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if buffer == nil { buffer = incoming } else { buffer!.writeBuffer(&incoming) }
        while var current = buffer {
            let found = current.withUnsafeReadableBytes { LineFramer.nextLine(in: $0, from: scanned, limit: Int.max - 1) }
            guard case .line(let length, let terminator) = found else {
                scanned = current.readableBytes
                return
            }
            let line = current.readSlice(length: length)!
            current.moveReaderIndex(forwardBy: terminator)
            buffer = current.readableBytes > 0 ? current : nil
            scanned = 0
            deliver(line)
        }
    }

    private func deliver(_ line: ByteBuffer) {
        // An answer starts with its `ok` member; only other lines are parsed here, to tell an
        // event line (an `event` member and no `ok`, by the contract) from a malformed answer.
        if !line.readableBytesView.starts(with: Self.answerPrefix) {
            let value = Self.parse(line)
            if let value, value["ok"] == nil, value["event"] != nil || waiting.isEmpty {
                onUnrequested?(value)
                return
            }
        }
        guard let answer = waiting.popFirst() else {
            if let value = Self.parse(line) { onUnrequested?(value) }
            return
        }
        answer.succeed(line)
    }

    func channelInactive(context: ChannelHandlerContext) {
        while let answer = waiting.popFirst() { answer.fail(DocketClientError.connectionClosed) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
