import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The terminal of `docket top`: raw keys, the alternate screen, whole-frame redraws, and the
/// terminal given back as it was on every way out (q, Ctrl-C, SIGINT, SIGTERM, SIGHUP, an
/// error).
///
/// By hand with termios and a few ANSI sequences (about 150 lines): the packages on hand for
/// terminals are colour helpers or whole UI frameworks, and this needs neither.
final class Terminal: Sendable {
    enum Input: Sendable {
        case key(Key)
        case resize
        case tick
        case quit
    }

    enum Key: Sendable {
        case up, down, character(Character)
    }

    /// The settings to give back, and whether the screen is ours right now.
    private struct Saved {
        var attributes: termios?
        var active = false
    }

    private let saved = Mutex(Saved())
    /// Kept only so the signal sources live as long as the terminal; set once, by `start`.
    private nonisolated(unsafe) var signalSources: [any DispatchSourceSignal] = []

    static var isInteractive: Bool { isatty(1) != 0 && isatty(0) != 0 }

    /// Columns and rows; 80 × 24 when the terminal does not say.
    var size: (width: Int, height: Int) {
        var size = winsize()
        guard ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0, size.ws_row > 0 else { return (80, 24) }
        return (Int(size.ws_col), Int(size.ws_row))
    }

    /// Takes the screen: keys unbuffered and unechoed, Ctrl-C read as a key, the alternate
    /// screen, no cursor. Inputs arrive on the stream: keys, resizes, and `quit` for the
    /// signals that end the program (the terminal is already given back when it arrives);
    /// the caller yields its own `tick`s into the continuation.
    func start() -> (AsyncStream<Input>, AsyncStream<Input>.Continuation) {
        let (inputs, continuation) = AsyncStream<Input>.makeStream()
        saved.withLock { saved in
            var attributes = termios()
            guard tcgetattr(0, &attributes) == 0 else { return }
            saved.attributes = attributes
            var raw = attributes
            raw.c_lflag &= ~tcflag_t(ICANON | ECHO | ISIG | IEXTEN)
            raw.c_iflag &= ~tcflag_t(IXON | ICRNL)
            withUnsafeMutableBytes(of: &raw.c_cc) { cc in
                cc[Int(VMIN)] = 1
                cc[Int(VTIME)] = 0
            }
            tcsetattr(0, TCSAFLUSH, &raw)
            saved.active = true
            Self.write("\u{1B}[?1049h\u{1B}[?25l\u{1B}[2J")
        }
        var sources: [any DispatchSourceSignal] = []
        for (number, input) in [(SIGWINCH, Input.resize), (SIGINT, .quit), (SIGTERM, .quit), (SIGHUP, .quit)] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in
                if case .quit = input { restore() }
                continuation.yield(input)
            }
            source.resume()
            sources.append(source)
        }
        signalSources = sources
        // A thread of its own: the read blocks, and must not hold one of the cooperative pool's.
        Thread.detachNewThread { Self.readKeys(into: continuation) }
        return (inputs, continuation)
    }

    /// Draws a whole frame: each line at its row, the rest of each row cleared.
    func draw(_ lines: [String]) {
        var frame = "\u{1B}[H"
        for (row, line) in lines.enumerated() { frame += "\u{1B}[\(row + 1);1H" + line + "\u{1B}[K" }
        frame += "\u{1B}[J"
        saved.withLock { saved in
            if saved.active { Self.write(frame) }
        }
    }

    /// Gives the terminal back as it was; safe to call more than once and from any thread.
    func restore() {
        saved.withLock { saved in
            guard saved.active, var attributes = saved.attributes else { return }
            saved.active = false
            Self.write("\u{1B}[0m\u{1B}[?25h\u{1B}[?1049l")
            tcsetattr(0, TCSAFLUSH, &attributes)
        }
    }

    /// Reads key presses until standard input ends: arrows (ESC [ A / ESC O A), letters, and
    /// Ctrl-C as `q`.
    private static func readKeys(into continuation: AsyncStream<Input>.Continuation) {
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(0, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return }
            var index = 0
            while index < count {
                let byte = buffer[index]
                if byte == 0x1B, index + 2 < count, buffer[index + 1] == UInt8(ascii: "[") || buffer[index + 1] == UInt8(ascii: "O") {
                    switch buffer[index + 2] {
                    case UInt8(ascii: "A"): continuation.yield(.key(.up))
                    case UInt8(ascii: "B"): continuation.yield(.key(.down))
                    default: break
                    }
                    index += 3
                    continue
                }
                if byte == 0x03 {
                    continuation.yield(.key(.character("q")))
                } else if byte < 0x80 {
                    continuation.yield(.key(.character(Character(Unicode.Scalar(byte)))))
                }
                index += 1
            }
        }
    }

    private static func write(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(1, $0.baseAddress, $0.count) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { return }
            bytes = bytes.dropFirst(written)
        }
    }
}
