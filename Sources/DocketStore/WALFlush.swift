import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Makes every transaction the write connection has committed durable, from any thread.
///
/// The write connection commits with `synchronous = NORMAL`: its pages go into the WAL
/// without an fsync, so the writer thread can go on to the next batch at once. One
/// fdatasync of the WAL here then makes every commit before it durable (SQLite replays
/// only an unbroken run of valid frames, so what survives a power loss is always a prefix
/// of the commits). NORMAL still syncs the WAL header when the log starts over, and the
/// checkpoint connection (FULL) syncs the WAL before copying it and the database after,
/// so no page is ever overwritten before its newer copy is on disk.
public final class WALFlush: Sendable {
    private let descriptor: Int32
    public let path: String
    /// Set by every commit that wrote to the WAL, cleared by the flush that covers it. A
    /// flush with nothing to write is skipped: on a file system that went read-only it would
    /// fail, and make the daemon exit, though the batch had only been refused.
    private let unflushed = Atomic<Bool>(false)

    /// Opens the WAL of `store`, which exists from the moment the store is open.
    public init(store: SQLiteJobStore) throws(StoreError) {
        path = store.path + "-wal"
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .storage("cannot open \(path) to flush it: \(String(cString: strerror(errno)))") }
        // A newly made WAL is only reachable after a crash if its directory entry is on disk.
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let directoryDescriptor = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { if directoryDescriptor >= 0 { close(directoryDescriptor) } }
        guard directoryDescriptor >= 0, fsync(directoryDescriptor) == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw .storage("cannot flush the directory of \(path): \(reason)")
        }
        store.onWALCommit { [self] _ in unflushed.store(true, ordering: .sequentiallyConsistent) }
    }

    deinit {
        close(descriptor)
    }

    /// Returns once every commit made before the call is on disk. A failure is
    /// `commitUnsettled`: the kernel may have dropped the pages it could not write.
    /// Returns false when there was nothing to flush.
    public func flush() throws(StoreError) -> Bool {
        guard unflushed.exchange(false, ordering: .sequentiallyConsistent) else { return false }
        while fdatasync(descriptor) != 0 {
            guard errno == EINTR else {
                throw .commitUnsettled("fdatasync of \(path) failed: \(String(cString: strerror(errno)))")
            }
        }
        return true
    }
}
