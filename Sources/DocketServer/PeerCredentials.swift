import CSystemd
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// The process at the other end of a Unix socket as it was when it connected: SO_PEERCRED
/// and SO_PEERGROUPS.
struct PeerCredentials: Sendable, Equatable {
    var pid: Int32
    var uid: UInt32
    var gid: UInt32
    /// Supplementary groups, so that `--allow-gid` admits a group's members and not only
    /// the processes whose primary group it is. Empty when the peer has more than 256;
    /// gid 0 is never listed, as it cannot be told from the zeroed remainder of the buffer
    /// (so `--allow-gid 0` admits only peers whose primary group is 0).
    var groups: [UInt32] = []

    /// `pid@uid`: how events and default worker names identify a peer.
    var label: String { "\(pid)@\(uid)" }

    /// Reads the credentials of a connected channel's peer; must run on its event loop.
    static func of(_ channel: any Channel) -> PeerCredentials? {
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        let future: EventLoopFuture<docket_ucred> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        // The kernel fills the buffer with as many gids as the peer has and leaves the rest as
        // NIO zeroed it; more than fit is ERANGE, a failed future.
        let groups: EventLoopFuture<InlineArray<256, UInt32>> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERGROUPS))
        // On the channel's own loop the options are read at once and the futures are already done.
        let credentials = NIOLoopBoundBox<PeerCredentials?>(nil, eventLoop: channel.eventLoop)
        future.whenSuccess { credentials.value = PeerCredentials(pid: $0.pid, uid: $0.uid, gid: $0.gid) }
        groups.whenSuccess { buffer in
            credentials.value?.groups = buffer.indices.map { buffer[$0] }.filter { $0 != 0 }
        }
        return credentials.value
    }
}
