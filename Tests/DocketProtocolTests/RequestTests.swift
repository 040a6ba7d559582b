import DocketProtocol
import Testing

@Suite("Request and Op")
struct RequestTests {
    /// Each operation reports its wire name and whether it goes through the writer.
    @Test func operationNameAndWriteFlag_matchTheContract() {
        let fence = JobVersion(job: 1, version: 1)
        let table: [(Op, String, Bool)] = [
            (.hello(client: nil), "hello", false), (.ping, "ping", false),
            (.enqueue(EnqueueRequest(queue: "q")), "enqueue", true), (.claim(ClaimRequest(queues: ["q"])), "claim", true),
            (.progress(ProgressRequest(fence: fence)), "progress", true),
            (.complete(CompleteRequest(fence: fence)), "complete", true), (.fail(FailRequest(fence: fence)), "fail", true),
            (.cancel(fence), "cancel", true), (.retry(fence), "retry", true), (.get(GetRequest(job: 1)), "get", false),
            (.list(ListRequest()), "list", false), (.stats, "stats", false),
        ]
        for (operation, name, isWrite) in table {
            #expect(operation.name == name)
            #expect(operation.isWrite == isWrite, "\(name)")
        }
    }

    /// A decoded op's `name` is the `op` string it was decoded from.
    @Test(arguments: ["hello", "ping", "stats", "list"])
    func decodedOperationName_isTheWireOp(_ op: String) throws {
        let request = try RequestDecoder().decode(Array(#"{"op":""#.utf8) + Array(op.utf8) + Array(#""}"#.utf8)).get()
        #expect(request.operation.name == op)
    }

    /// `RunAt` resolves now, an absolute time and a delay against the current time.
    @Test func runAt_resolvesAgainstNow() {
        #expect(RunAt.now.resolve(now: 1000) == 1000)
        #expect(RunAt.at(5).resolve(now: 1000) == 5)
        #expect(RunAt.after(milliseconds: 250).resolve(now: 1000) == 1250)
    }

    /// The request structs' defaults are the contract's defaults.
    @Test func structDefaults_areTheContractDefaults() {
        let enqueue = EnqueueRequest(queue: "q")
        #expect(enqueue.maxAttempts == 3 && enqueue.backoffInitialMs == 1000 && enqueue.backoffMaxMs == 3_600_000)
        #expect(ClaimRequest(queues: ["q"]).leaseMs == 30_000)
        #expect(ListRequest().limit == 100)
        #expect(FailRequest(fence: JobVersion(job: 1, version: 1)).retry)
        #expect(GetRequest(job: 1).events == false)
    }

    /// Only completed, failed and cancelled are final states.
    @Test func finalStates_areCompletedFailedCancelled() {
        #expect(JobState.allCases.filter(\.isFinal) == [.completed, .failed, .cancelled])
        #expect(JobState.allCases.map(\.rawValue) == ["pending", "running", "completed", "failed", "cancelled"])
    }
}
