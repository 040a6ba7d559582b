import CSystemd
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// The process at the other end of a Unix socket, from SO_PEERCRED.
struct PeerCredentials: Sendable, Equatable {
    var pid: Int32
    var uid: UInt32
    var gid: UInt32

    /// `pid@uid`: how events and default worker names identify a peer.
    var label: String { "\(pid)@\(uid)" }

    /// Reads the credentials of a connected channel's peer; must run on its event loop.
    static func of(_ channel: any Channel) -> PeerCredentials? {
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        let future: EventLoopFuture<docket_ucred> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        // On the channel's own loop the option is read at once and the future is already done.
        let credentials = NIOLoopBoundBox<PeerCredentials?>(nil, eventLoop: channel.eventLoop)
        future.whenSuccess { credentials.value = PeerCredentials(pid: $0.pid, uid: $0.uid, gid: $0.gid) }
        return credentials.value
    }
}
