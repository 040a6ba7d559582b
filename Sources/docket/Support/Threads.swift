#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` on a new detached thread: for blocking system calls (poll, waitpid) that must
/// not hold one of the few threads of Swift's cooperative pool.
func startThread(_ body: @escaping @Sendable () -> Void) {
    final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let status = pthread_create(&thread, nil, { argument in
        Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue().body()
        return nil
    }, box)
    precondition(status == 0, "pthread_create failed with \(status): out of threads")
    pthread_detach(thread)
}
