import Dispatch

#if canImport(Glibc)
import Glibc
#endif

/// SIGTERM and SIGINT for `docket work`: the first asks for a clean stop, the second for a
/// quick one.
final class Shutdown: @unchecked Sendable {
    /// Claim nothing more; running jobs get the grace period to finish.
    let requested = OneShot<Int32>()
    /// Stop running jobs now.
    let hurried = OneShot<Int32>()
    /// Kept alive for the life of the process; touched only in `init`.
    private var sources: [any DispatchSourceSignal] = []

    init() {
        for number in [SIGTERM, SIGINT] {
            signal(number, SIG_IGN)  // delivered to the dispatch source instead
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [requested, hurried] in
                if requested.value == nil { requested.set(number) } else { hurried.set(number) }
            }
            source.resume()
            sources.append(source)
        }
    }
}
