import DocketProtocol
import DocketStore
import NIOCore

/// `watch` on a connection: the stream of events after the answer, replayed from the store
/// and then live from the hub, one watch per connection.
extension ConnectionHandler {
    /// Subscribes before the latest seq is read, so no event falls between the two.
    func startWatch(_ request: WatchRequest) {
        let stream = WatchStream(request)
        watch = stream
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        server.hub.subscribe(ObjectIdentifier(self), scope: request.scope) { events in
            eventLoop.execute { bound.value.receiveLive(events) }
        }
    }

    private func receiveLive(_ events: [JobEvent]) {
        guard let watch else { return }
        perform(watch.receive(events))
        pumpWatch()
    }

    func pumpWatch() {
        guard let watch, context.channel.isActive else { return }
        perform(watch.pump(into: context))
        if watch.isEnded { stopWatch() }
    }

    func stopWatch() {
        guard watch != nil else { return }
        server.hub.unsubscribe(ObjectIdentifier(self))
        watch = nil
        closeIfDone()
    }

    func perform(_ action: WatchStream.Action) {
        guard let watch else { return }
        switch action {
        case .none:
            break
        case .fetch(let after):
            let scope = watch.scope
            let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
            let fetching = NIOLoopBound(watch, eventLoop: context.eventLoop)
            server.readers.run(on: context.eventLoop) { reader throws(StoreError) in
                try reader.events(after: after, scope: scope, limit: WatchStream.pageSize)
            }.whenComplete { result in
                let handler = bound.value
                // The watch may have ended, or been replaced, while the page was read.
                guard let current = handler.watch, current === fetching.value else { return }
                switch result {
                case .success(let page):
                    handler.perform(current.replayed(page))
                    handler.pumpWatch()
                case .failure(let error):
                    handler.stopWatch()
                    handler.refuse(ProtocolError(.internal, "the watch replay failed: \(error); watch again with since"))
                }
            }
        case .overflow:
            let resume = watch.lastWritten
            stopWatch()
            var error = ProtocolError(
                .watchOverflow,
                "this watch fell more than \(WatchStream.maxBacklog) events behind and is closed; "
                    + "watch again with since=\(resume) to resume where it stopped")
            error.seq = resume
            refuse(error)
        }
    }
}
