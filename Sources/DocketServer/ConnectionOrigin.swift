import Synchronization

/// Who sent a request: the connection's peer, and whether it is still there to hear the answer.
public final class ConnectionOrigin: Sendable {
    /// `pid@uid` from SO_PEERCRED, recorded on the events the connection causes.
    public let peer: String?
    private let active = Atomic<Bool>(true)

    public init(peer: String?) {
        self.peer = peer
    }

    /// False once the client has gone; a parked claim of a gone client is dropped, not served.
    public var isActive: Bool { active.load(ordering: .acquiring) }

    public func markClosed() { active.store(false, ordering: .releasing) }
}
