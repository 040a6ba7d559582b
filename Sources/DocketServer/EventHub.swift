import DocketProtocol
import NIOConcurrencyHelpers

/// Hands committed events to the connections watching them.
///
/// The writer publishes each batch's events once, after the commit; each subscriber gets
/// the ones that match its scope in one call, and does its own buffering on its own event
/// loop, so a slow watcher costs the writer nothing but this filter.
public final class EventHub: Sendable {
    struct Subscriber: Sendable {
        var scope: WatchScope
        var deliver: @Sendable ([JobEvent]) -> Void
    }

    private let subscribers = NIOLockedValueBox<[ObjectIdentifier: Subscriber]>([:])

    public init() {}

    func subscribe(_ key: ObjectIdentifier, scope: WatchScope, deliver: @escaping @Sendable ([JobEvent]) -> Void) {
        subscribers.withLockedValue { $0[key] = Subscriber(scope: scope, deliver: deliver) }
    }

    func unsubscribe(_ key: ObjectIdentifier) {
        subscribers.withLockedValue { $0[key] = nil }
    }

    /// Whether any connection watches; while none does, a shared store's events need not be
    /// read back at all (see `PostgresEventFollower`).
    var isWatched: Bool {
        subscribers.withLockedValue { !$0.isEmpty }
    }

    func publish(_ events: [JobEvent]) {
        let current = subscribers.withLockedValue { Array($0.values) }
        for subscriber in current {
            let matching = events.filter(subscriber.scope.matches)
            if !matching.isEmpty { subscriber.deliver(matching) }
        }
    }
}
