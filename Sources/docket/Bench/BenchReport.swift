import DocketProtocol
import Histogram

/// `docket bench`'s results as a table or as one JSON object.
struct BenchReport {
    let result: BenchRun.Result
    let producers: Int
    let consumers: Int
    let connections: Int
    let payloadBytes: Int
    let queue: String
    /// The pace asked for with --rate.
    let pacedRate: Int?

    private var seconds: Double {
        let (whole, fraction) = result.elapsed.components
        return Double(whole) + Double(fraction) / 1e18
    }

    private var rate: Int { seconds > 0 ? Int((Double(result.cycles) / seconds).rounded()) : 0 }

    private var ops: [(name: String, histogram: Histogram<UInt64>)] {
        [
            ("enqueue", result.latencies.enqueue), ("claim", result.latencies.claim), ("pickup", result.latencies.pickup),
            ("complete", result.latencies.complete), ("cycle", result.latencies.cycle),
        ]
    }

    var lines: [String] {
        var table = Table("OP", "COUNT", "P50", "P90", "P99", "MAX")
        for op in ops {
            let h = op.histogram
            table.add(
                op.name, String(h.totalCount), Self.milliseconds(h.valueAtPercentile(50)), Self.milliseconds(h.valueAtPercentile(90)),
                Self.milliseconds(h.valueAtPercentile(99)), Self.milliseconds(h.max))
        }
        // Thousandths of a second formatted like milliseconds are seconds with two decimals.
        let seconds = Self.milliseconds(UInt64(self.seconds * 1000)).dropLast(2)
        return [
            "\(result.cycles) cycles in \(seconds) s: \(rate) cycles/s",
            "\(producers) producers, \(consumers) consumers, \(connections) connections, \(payloadBytes)-byte payloads, queue \(queue)"
                + (pacedRate.map { ", paced at \($0) enqueues/s" } ?? ""),
            "",
        ] + table.render()
    }

    var json: JSONValue {
        var latencies = JSONObject()
        for op in ops {
            let h = op.histogram
            latencies[op.name] = [
                "count": .number(String(h.totalCount)), "p50_us": .number(String(h.valueAtPercentile(50))),
                "p90_us": .number(String(h.valueAtPercentile(90))), "p99_us": .number(String(h.valueAtPercentile(99))),
                "max_us": .number(String(h.max)),
            ]
        }
        return [
            "cycles": .int(result.cycles), "elapsed_ms": .int(Int(seconds * 1000)), "cycles_per_second": .int(rate),
            "producers": .int(producers), "consumers": .int(consumers), "connections": .int(connections),
            "payload_bytes": .int(payloadBytes), "queue": .string(queue), "paced_rate": pacedRate.map { .int($0) } ?? .null,
            "latency": .object(latencies),
        ]
    }

    /// Microseconds as milliseconds with two decimals: "0.41ms".
    static func milliseconds(_ microseconds: UInt64) -> String {
        let hundredths = (microseconds + 5) / 10
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)ms"
    }
}
