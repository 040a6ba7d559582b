import CoreMetrics
import Prometheus

/// swift-metrics' factory for Docket's metrics, over a swift-prometheus registry of one
/// daemon's own (no process-wide bootstrap, so tests can run several daemons in one process).
///
/// swift-prometheus' own `PrometheusMetricsFactory` registers every metric with an empty help
/// text and has no way to take one, and the registry refuses a second registration of a name
/// with a different help text; the contract wants `# HELP` on every metric. This factory looks
/// each label up in `MetricCatalogue`, so the help text and histogram buckets live in one
/// place and the instrumentation stays plain swift-metrics.
struct CatalogueMetricsFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry

    private func spec(_ label: String) -> MetricSpec {
        guard let spec = MetricCatalogue.byName[label] else {
            preconditionFailure("metric \(label) is not in MetricCatalogue; add it there with its help text")
        }
        return spec
    }

    /// The registry's name: the catalogue's names already end in their unit.
    private func descriptor(_ spec: MetricSpec) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: spec.name, unitName: "", helpText: spec.help)
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: descriptor(spec(label)), labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        let spec = spec(label)
        guard aggregate else { return registry.makeGauge(descriptor: descriptor(spec), labels: dimensions) }
        return registry.makeValueHistogram(descriptor: descriptor(spec), labels: dimensions, buckets: spec.buckets)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        let spec = spec(label)
        return registry.makeDurationHistogram(
            descriptor: descriptor(spec), labels: dimensions, buckets: spec.buckets.map { .nanoseconds(Int64(($0 * 1e9).rounded())) })
    }

    func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        switch handler {
        case let gauge as Prometheus.Gauge: registry.unregisterGauge(gauge)
        case let histogram as ValueHistogram: registry.unregisterValueHistogram(histogram)
        default: break
        }
    }

    func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? DurationHistogram { registry.unregisterDurationHistogram(histogram) }
    }
}
