#if canImport(Glibc)
import Glibc
#endif

/// Who may connect: the daemon's own user and root always; others only when listed.
public struct AccessPolicy: Sendable {
    /// Extra users allowed (`--allow-uid`).
    public var uids: Set<UInt32> = []
    /// Extra groups allowed (`--allow-gid`): a peer whose primary or a supplementary group
    /// is listed may connect.
    public var gids: Set<UInt32> = []

    public init(uids: Set<UInt32> = [], gids: Set<UInt32> = []) {
        self.uids = uids
        self.gids = gids
    }

    /// With no lists the socket file's mode is the only gate, as for any Unix socket.
    public var restricts: Bool { !uids.isEmpty || !gids.isEmpty }

    func admits(_ peer: PeerCredentials?) -> Bool {
        guard restricts else { return true }
        guard let peer else { return false }
        return peer.uid == 0 || peer.uid == geteuid() || uids.contains(peer.uid) || gids.contains(peer.gid)
            || peer.groups.contains(where: gids.contains)
    }
}
