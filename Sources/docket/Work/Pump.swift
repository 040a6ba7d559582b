import DocketProtocol

#if canImport(Glibc)
import Glibc
#endif

/// Moves a child's bytes on one thread: writes its stdin, reads stdout, stderr and the
/// progress descriptor, and reaps it.
///
/// The child's exit is what ends a job, not end of file on its pipes: a background process it
/// started may hold them open for ever. Once the child has exited, whatever is already in the
/// pipes is read and the rest is abandoned.
struct Pump {
    let pid: pid_t
    var stdin: (descriptor: Int32, bytes: [UInt8])
    var stdout: Int32
    var stderr: Int32
    var progress: Int32
    let onProgress: @Sendable (String) -> Void
    /// Each chunk of stdout and stderr as it is read, for the job's log.
    let onOutput: @Sendable (ArraySlice<UInt8>, LogStream) -> Void

    private var captured: [UInt8] = []
    private var capturedTotal = 0
    private var stderrTail: [UInt8] = []
    private var progressLine: [UInt8] = []
    private var written = 0

    init(
        pid: pid_t, stdin: (Int32, [UInt8]), stdout: Int32, stderr: Int32, progress: Int32,
        onProgress: @escaping @Sendable (String) -> Void, onOutput: @escaping @Sendable (ArraySlice<UInt8>, LogStream) -> Void
    ) {
        self.onOutput = onOutput
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.progress = progress
        self.onProgress = onProgress
        // A child that never reads its stdin must not block docket's writes.
        _ = fcntl(stdin.0, F_SETFL, fcntl(stdin.0, F_GETFL) | O_NONBLOCK)
    }

    mutating func run() -> ChildProcess.Outcome {
        var termination: ChildProcess.Termination?
        while true {
            let open = [stdin.descriptor, stdout, stderr, progress].filter { $0 >= 0 }
            if open.isEmpty {
                let status = termination ?? reap(blocking: true)!
                return outcome(status)
            }
            // After the exit, only what is already there: poll without waiting.
            let ready = poll(open, timeout: termination == nil ? 100 : 0)
            if ready == 0, let termination {
                open.forEach { close($0) }
                return outcome(termination)
            }
            if termination == nil { termination = reap(blocking: false) }
        }
    }

    /// Polls the descriptors and serves the ready ones; returns how many were ready.
    private mutating func poll(_ descriptors: [Int32], timeout: Int32) -> Int {
        var fds = descriptors.map { pollfd(fd: $0, events: Int16($0 == stdin.descriptor ? POLLOUT : POLLIN), revents: 0) }
        let count = Glibc.poll(&fds, nfds_t(fds.count), timeout)
        guard count > 0 else { return 0 }
        for entry in fds where entry.revents != 0 {
            if entry.fd == stdin.descriptor { feedStdin() } else { read(entry.fd) }
        }
        return Int(count)
    }

    private mutating func feedStdin() {
        let remaining = stdin.bytes.count - written
        let count = remaining == 0 ? 0 : stdin.bytes.withUnsafeBytes { Glibc.write(stdin.descriptor, $0.baseAddress! + written, remaining) }
        if count > 0 { written += count }
        // Done, or the child closed its stdin (EPIPE): either way it gets no more.
        if written == stdin.bytes.count || (count < 0 && errno != EAGAIN && errno != EINTR) {
            close(stdin.descriptor)
            stdin.descriptor = -1
        }
    }

    private mutating func read(_ descriptor: Int32) {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
        if count < 0, errno == EINTR || errno == EAGAIN { return }
        guard count > 0 else {
            close(descriptor)
            if descriptor == stdout { stdout = -1 }
            if descriptor == stderr { stderr = -1 }
            if descriptor == progress {
                progress = -1
                if !progressLine.isEmpty { emitProgressLine() }
            }
            return
        }
        let bytes = buffer[..<count]
        switch descriptor {
        case stdout:
            capturedTotal += count
            captured += bytes.prefix(max(0, ChildProcess.stdoutLimit - captured.count))
            onOutput(bytes, .stdout)
        case stderr:
            Console.write(to: 2, String(decoding: bytes, as: UTF8.self))
            onOutput(bytes, .stderr)
            stderrTail += bytes
            if stderrTail.count > 2 * ChildProcess.stderrTailBytes { stderrTail.removeFirst(stderrTail.count - ChildProcess.stderrTailBytes) }
        default:
            for byte in bytes {
                if byte == UInt8(ascii: "\n") { emitProgressLine() } else { progressLine.append(byte) }
            }
            if progressLine.count > ChildProcess.progressLineLimit {
                Console.standardError("docket work: dropped a progress line longer than \(ChildProcess.progressLineLimit) bytes")
                progressLine.removeAll()
            }
        }
    }

    private mutating func emitProgressLine() {
        if progressLine.last == UInt8(ascii: "\r") { progressLine.removeLast() }
        onProgress(String(decoding: progressLine, as: UTF8.self))
        progressLine.removeAll()
    }

    private func reap(blocking: Bool) -> ChildProcess.Termination? {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, blocking ? 0 : WNOHANG)
            if result < 0, errno == EINTR { continue }
            guard result == pid else { return nil }
            // WIFEXITED and friends are macros Swift cannot import.
            let signal = status & 0x7F
            return signal == 0 ? .exited((status >> 8) & 0xFF) : .signalled(signal)
        }
    }

    private func outcome(_ termination: ChildProcess.Termination) -> ChildProcess.Outcome {
        ChildProcess.Outcome(
            termination: termination, stdout: captured, stdoutBytes: capturedTotal,
            stderrTail: Array(stderrTail.suffix(ChildProcess.stderrTailBytes)))
    }
}
