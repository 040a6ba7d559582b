#if canImport(Glibc)
import Glibc
#endif

/// Starts a detached OS thread running `body` (NIO's thread type is internal, and the writer
/// must not borrow an event loop or the cooperative pool).
public func startThread(name: String, _ body: @escaping @Sendable () -> Void) {
    final class Box {
        let name: String
        let body: @Sendable () -> Void
        init(_ name: String, _ body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
    let box = Unmanaged.passRetained(Box(name, body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(
        &thread, nil,
        { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            nameThisThread(box.name)
            box.body()
            return nil
        }, box)
    precondition(rc == 0, "cannot start thread \(name): error \(rc)")
    pthread_detach(thread)
}

/// Names the calling thread, so that `top -H`, `perf` and `/proc` tell the writer from the
/// flusher. Through `/proc` because Glibc's module does not export `pthread_setname_np`, a
/// GNU extension; Linux keeps the first 15 bytes.
private func nameThisThread(_ name: String) {
    let fd = open("/proc/thread-self/comm", O_WRONLY)
    guard fd >= 0 else { return }
    defer { close(fd) }
    let bytes = Array(name.utf8.prefix(15))
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
}
