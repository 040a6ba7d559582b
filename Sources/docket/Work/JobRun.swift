import DocketClient
import DocketProtocol

/// One claimed job, from its command's start to the report of how it ended.
///
/// While the command runs, three things may end the job early: the daemon saying the job is
/// no longer ours (`stale_version` on a report, or the job seen leaving `running`: cancelled,
/// or taken back after its lease ran out), and `docket work` being stopped. In the first case
/// nothing is reported, since the job belongs to someone else now; in the second the job is
/// failed with a retry, so another worker runs it at once.
struct JobRun {
    let job: Job
    let settings: WorkSettings
    let reports: DocketClient
    let shutdown: Shutdown

    /// What a report to the daemon carries.
    private enum Report {
        /// A lease renewal that keeps the stored progress.
        case renew
        case progress(JSONValue)
        /// Output is waiting in the batcher; `final` once the command has ended.
        case logs(final: Bool)
    }

    /// Why the command stopped.
    private enum Ending {
        case exited(ChildProcess.Outcome)
        case lost(String)
        case shutdown
    }

    func run() async {
        let start = ContinuousClock.now
        let lost = OneShot<String>()
        let (reportStream, reportInput) = AsyncStream<Report>.makeStream()
        let logs = LogBatcher { reportInput.yield(.logs(final: false)) }
        let child: ChildProcess
        do {
            child = try ChildProcess(
                command: settings.command, environment: settings.environment(for: job), stdin: Array(payloadText.utf8),
                onProgress: { line in reportInput.yield(.progress(JSONValue(parsingOrQuoting: line))) },
                onOutput: { bytes, stream in logs.add(bytes, from: stream) })
        } catch {
            await finish(fail: ["message": .string("\(error)")], version: job.version, what: "could not start: \(error)")
            return
        }
        log("started \(settings.command.joined(separator: " ")) (pid \(child.pid)), attempt \(job.attempt) of \(job.maxAttempts)")

        let sender = Task { await send(reportStream, logs: logs, lost: lost) }
        let renewals = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: settings.lease / 3)
                reportInput.yield(.renew)
            }
        }
        let logFlusher = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: LogBatcher.interval)
                logs.tick()
            }
        }
        let monitor = Task {
            let seen = try? await JobFollower(client: reports).follow(job.id) { $0.state != .running }
            if let seen { lost.set("is \(seen.state.rawValue) now (version \(seen.version))") }
        }
        let ending = await firstEnding(child, lost: lost)
        renewals.cancel()
        monitor.cancel()
        logFlusher.cancel()
        // After an exit the pump has handed over all the output; what a stopped command
        // writes while it stops is not kept.
        reportInput.yield(.logs(final: true))
        reportInput.finish()

        switch ending {
        case .exited(let outcome):
            // The pump hands every progress line over before the exit, so the sender drains them first.
            let version = await sender.value
            if let reason = lost.value {
                log("ended, but the job \(reason); its result was not reported")
                return
            }
            await report(outcome, version: version, elapsed: ContinuousClock.now - start)
        case .lost(let reason):
            log("\(reason): stopping the command")
            _ = await child.stop(grace: settings.grace)
            _ = await sender.value
        case .shutdown:
            log("docket work is stopping: stopping the command")
            let outcome = await child.stop(grace: shutdown.hurried.value == nil ? settings.grace : .zero)
            let version = await sender.value
            guard lost.value == nil else { return }
            var error = JSONObject([(key: "message", value: "docket work was stopped before the command finished")])
            if let outcome { error["stderr_tail"] = .string(String(decoding: outcome.stderrTail, as: UTF8.self)) }
            await finish(fail: .object(error), retryIn: .zero, version: version, what: "released for another worker")
        }
    }

    /// A string payload as it is, so `docket enqueue q hello` hands a script `hello`; no
    /// payload as nothing; anything else as JSON text.
    private var payloadText: String {
        switch job.payload.value {
        case .null: return ""
        case .string(let text): return text
        default: return job.payload.text
        }
    }

    /// Waits for the first of: the command exits, the job is lost, the worker is told to
    /// stop and the grace period passes (or a second signal comes).
    private func firstEnding(_ child: ChildProcess, lost: OneShot<String>) async -> Ending {
        await withTaskGroup(of: Ending?.self) { group in
            group.addTask { await child.outcome.wait().map(Ending.exited) }
            group.addTask { await lost.wait().map(Ending.lost) }
            group.addTask {
                guard await shutdown.requested.wait() != nil else { return nil }
                _ = await shutdown.hurried.wait(timeout: settings.grace)
                return Task.isCancelled ? nil : .shutdown
            }
            var ending: Ending?
            while ending == nil, let next = await group.next() { ending = next }
            group.cancelAll()
            return ending!
        }
    }

    /// Sends reports one at a time, each quoting the version the previous one produced;
    /// returns the last version. A fencing refusal means the job is no longer ours.
    private func send(_ reportStream: AsyncStream<Report>, logs: LogBatcher, lost: OneShot<String>) async -> Int64 {
        var version = job.version
        for await report in reportStream where lost.value == nil {
            let value: JSONValue?
            switch report {
            case .renew: value = nil
            case .progress(let progress): value = progress
            case .logs(let final):
                for (stream, text) in logs.take(everything: final) where lost.value == nil {
                    do {
                        try await reports.log(job: job.id, version: version, text: text, stream: stream)
                    } catch let refusal as DocketError where [.staleVersion, .notFound, .invalidState].contains(refusal.code) {
                        lost.set("is no longer ours (\(refusal.message))")
                    } catch {
                        log("could not send output to the job's log: \(error)")
                    }
                }
                continue
            }
            do {
                version = try await reports.renew(job: job.id, version: version, progress: value, lease: settings.lease).version
            } catch let refusal as DocketError where [.staleVersion, .notFound, .invalidState].contains(refusal.code) {
                lost.set("is no longer ours (\(refusal.message))")
            } catch {
                // Most likely the daemon restarting: the next renewal tries again within the lease.
                log("could not report progress: \(error)")
            }
        }
        return version
    }

    private func report(_ outcome: ChildProcess.Outcome, version: Int64, elapsed: Duration) async {
        let milliseconds = elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
        let took = "after \(milliseconds / 1000).\(milliseconds % 1000 / 100)s"
        switch outcome.termination {
        case .exited(0) where outcome.stdoutBytes > ChildProcess.stdoutLimit:
            await finish(
                fail: [
                    "message": .string("the command succeeded but wrote \(outcome.stdoutBytes) bytes to stdout; a result may be at most \(ChildProcess.stdoutLimit): write large output elsewhere and print a reference to it"),
                    "exit_status": 0,
                ], retry: false, version: version, what: "failed: its output is too large for a result")
        case .exited(0):
            let text = String(decoding: outcome.stdout, as: UTF8.self)
            let trimmed = text.trailingNewlinesRemoved
            let result: JSONValue = trimmed.isEmpty ? .null : JSONValue(parsingOrQuoting: trimmed)
            do {
                _ = try await reports.complete(job: job.id, version: version, result: result)
                log("completed \(took)")
            } catch {
                log("finished \(took), but the result was not recorded: \(error)")
            }
        case .exited(let status) where status == settings.snoozeExit:
            do {
                let snoozed = try await reports.snooze(job: job.id, version: version, delay: settings.snoozeDelay)
                log("snoozed \(took) (exit status \(status)): it runs again after \(settings.snoozeDelay), version \(snoozed.version)")
            } catch {
                log("exited \(status) to snooze \(took), but the snooze was not recorded: \(error)")
            }
        case .exited(let status):
            await finish(fail: failure(status: status, signal: nil, outcome), version: version, what: "failed with exit status \(status) \(took)")
        case .signalled(let signal):
            await finish(fail: failure(status: 128 + signal, signal: signal, outcome), version: version, what: "was killed by signal \(signal) \(took)")
        }
    }

    private func failure(status: Int32, signal: Int32?, _ outcome: ChildProcess.Outcome) -> JSONValue {
        var error = JSONObject([(key: "exit_status", value: .int(Int(status)))])
        if let signal { error["signal"] = .int(Int(signal)) }
        error["stderr_tail"] = .string(String(decoding: outcome.stderrTail, as: UTF8.self))
        return .object(error)
    }

    private func finish(fail error: JSONValue, retry: Bool = true, retryIn: Duration? = nil, version: Int64, what: String) async {
        do {
            let failed = try await reports.fail(job: job.id, version: version, error: error, retry: retry, retryIn: retryIn)
            log("\(what); \(failed.state == .pending ? "it will be retried" : "no attempts left")")
        } catch {
            log("\(what), but the failure was not recorded: \(error)")
        }
    }

    private func log(_ message: String) {
        Console.standardError("docket work: job \(job.id) (\(job.queue)) \(message)")
    }
}

extension JSONValue {
    /// JSON when the text is JSON, else the text as a string: how command output becomes a value.
    init(parsingOrQuoting text: String) {
        self = (try? JSONParser.parse(text)) ?? .string(text)
    }
}

extension String {
    var trailingNewlinesRemoved: String {
        var text = Substring(self)
        while text.last == "\n" || text.last == "\r" { text = text.dropLast() }
        return String(text)
    }
}
