#if canImport(Glibc)
import Glibc
#endif

/// Starts a detached OS thread running `body` (NIO's thread type is internal, and the writer
/// must not borrow an event loop or the cooperative pool).
public func startThread(name: String, _ body: @escaping @Sendable () -> Void) {
    final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(
        &thread, nil,
        { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, box)
    precondition(rc == 0, "cannot start thread \(name): error \(rc)")
    pthread_detach(thread)
}
