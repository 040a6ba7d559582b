import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Sits on the listening socket and says in the log why connections are not being accepted.
///
/// Out of file descriptors, `accept` fails and NIO retries; the clients wait in the backlog
/// and cannot be told anything, so the log is the only place to explain it. Once a minute at
/// most, so a long shortage does not flood the journal.
final class AcceptErrorLogger: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    private let logger: Logger
    private let lastLogged = NIOLockedValueBox<ContinuousClock.Instant?>(nil)

    init(logger: Logger) {
        self.logger = logger
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let now = ContinuousClock.now
        let due = lastLogged.withLockedValue { last in
            guard last.map({ now - $0 > .seconds(60) }) ?? true else { return false }
            last = now
            return true
        }
        if due {
            if let io = error as? IOError, io.errnoCode == EMFILE || io.errnoCode == ENFILE {
                logger.error(
                    "out of file descriptors: new connections wait until some close; raise LimitNOFILE= (systemd) or ulimit -n",
                    metadata: ["error": "\(error)"])
            } else {
                logger.error("cannot accept connections", metadata: ["error": "\(error)"])
            }
        }
        context.fireErrorCaught(error)
    }
}
