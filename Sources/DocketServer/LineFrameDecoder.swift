import DocketProtocol
import NIOCore

/// What the framing hands to the connection: a request line, or the news that a line broke
/// the length limit (after which the connection reads nothing more).
enum LineFrame {
    case line(ByteBuffer)
    case tooLarge
}

/// Splits the byte stream into lines with a hard length limit, unlike NIO's
/// `LineBasedFrameDecoder` whose cap a long line arriving in one read slips past.
struct LineFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = LineFrame

    let limit: Int
    /// How far the current partial line has been searched for its newline already.
    private var scanned = 0
    private var overLimit = false

    init(limit: Int) {
        self.limit = limit
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if overLimit {
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        }
        // Over the raw bytes: through ByteBufferView every byte paid an exclusivity check.
        let found = buffer.withUnsafeReadableBytes { LineFramer.nextLine(in: $0, from: scanned, limit: limit) }
        switch found {
        case .line(let length, let terminator):
            scanned = 0
            let line = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: terminator)
            if !LineFramer.isBlank(line.readableBytesView) {
                context.fireChannelRead(wrapInboundOut(.line(line)))
            }
            return .continue
        case .needMore(let scannedSoFar):
            scanned = scannedSoFar
            return .needMoreData
        case .tooLarge:
            overLimit = true
            buffer.moveReaderIndex(to: buffer.writerIndex)
            context.fireChannelRead(wrapInboundOut(.tooLarge))
            return .needMoreData
        }
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        while try decode(context: context, buffer: &buffer) == .continue {}
        // A last line without its newline is still a request: `printf '{"op":"ping"}' | socat …`.
        if !overLimit, buffer.readableBytes > 0, !LineFramer.isBlank(buffer.readableBytesView) {
            let line = buffer.readSlice(length: buffer.readableBytes)!
            context.fireChannelRead(wrapInboundOut(.line(line)))
        }
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }
}
