import DocketProtocol
import DocketServer
import DocketStore
import DocketTestSupport
import Testing

@Suite("Job logs, through the coordinator")
struct LogTests {
    /// A log line needs the job running at the version given, and leaves the version alone.
    @Test(arguments: Backend.available) func log_isFencedAndKeepsTheVersion(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        let pending = try #require(h.enqueue())
        let fence = JobVersion(job: pending.id, version: pending.version)
        guard case .failure(let notRunning)? = h.send(.log(LogRequest(fence: fence, text: "x"))) else { return }
        #expect(notRunning.code == .invalidState)
        let running = try #require(h.claim()?.claimedJob ?? nil)
        let current = JobVersion(job: running.id, version: running.version)
        guard case .job(let logged)? = h.send(.log(LogRequest(fence: current, text: "hello\n", stream: .stderr))) else {
            Issue.record("the log line was refused")
            return
        }
        #expect(logged.version == running.version)
        guard case .failure(let stale)? = h.send(.log(LogRequest(fence: fence, text: "late"))) else { return }
        #expect(stale.code == .staleVersion)
        let event = try #require(try h.store.events(ofJob: running.id).last)
        #expect(event.kind == .log && event.version == running.version && event.data?.value == ["stream": "stderr", "text": "hello\n"])
    }

    /// Past 1 MiB the oldest lines go first, and the store says how much went.
    @Test(arguments: Backend.available) func log_keepsTheNewestMebibyte(_ backend: Backend) throws {
        let h = try CoordinatorHarness(backend)
        _ = h.enqueue()
        let running = try #require(h.claim()?.claimedJob ?? nil)
        let fence = JobVersion(job: running.id, version: running.version)
        for index in 0..<5 {
            h.send(.log(LogRequest(fence: fence, text: "\(index)" + String(repeating: "x", count: 300_000))))
        }
        let kept = try h.store.events(ofJob: running.id).filter { $0.kind == .log }
        #expect(kept.compactMap { $0.data?.value["text"]?.string?.first } == ["2", "3", "4"])
        #expect(try h.store.logDroppedBytes(ofJob: running.id) > 600_000)
    }
}
