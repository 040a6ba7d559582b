/// Finds request lines in a byte stream, with a hard limit on line length.
///
/// ```
///  input bytes                      result
///  {"op":"ping"}\n                  .line(length: 13, terminator: 1)
///  {"op":"ping"}\r\n                .line(length: 13, terminator: 2)
///  {"op":"pi                        .needMore(scanned: 9)
///  (more than `limit` bytes, no \n) .tooLarge
/// ```
/// `scanned` lets the caller resume the search where it stopped, so a line arriving in many
/// small reads is scanned once in total rather than once per read.
public enum LineFramer {
    public enum Result: Equatable, Sendable {
        /// A complete line of `length` bytes (without its terminator) followed by `terminator` bytes.
        case line(length: Int, terminator: Int)
        /// No newline in the first `scanned` bytes and the limit is not reached yet.
        case needMore(scanned: Int)
        /// The line is longer than the limit (whether or not its newline has arrived).
        case tooLarge
    }

    /// Looks for the end of the first line in `bytes`, starting the search at `from`.
    ///
    /// Inlinable so that callers in other modules get it specialized for their buffer type:
    /// unspecialized, every byte was a call through a witness table (and, for NIO's
    /// `ByteBufferView`, a heap-allocated coroutine frame).
    @inlinable
    public static func nextLine<Bytes: Collection<UInt8>>(in bytes: Bytes, from: Int = 0, limit: Int) -> Result
    where Bytes.Index == Int {
        let start = bytes.startIndex
        var index = start + from
        while index < bytes.endIndex {
            if bytes[index] == UInt8(ascii: "\n") {
                var length = index - start
                var terminator = 1
                if length > 0, bytes[index - 1] == UInt8(ascii: "\r") {
                    length -= 1
                    terminator = 2
                }
                return length > limit ? .tooLarge : .line(length: length, terminator: terminator)
            }
            index += 1
        }
        let scanned = bytes.count
        // A trailing \r may still be the first half of a terminator, so it may stand one past the limit.
        let overLimit = scanned > limit + 1 || (scanned == limit + 1 && bytes[bytes.endIndex - 1] != UInt8(ascii: "\r"))
        return overLimit ? .tooLarge : .needMore(scanned: scanned)
    }

    /// Whether a line holds nothing but spaces and tabs; such lines are ignored.
    @inlinable
    public static func isBlank<Bytes: Collection<UInt8>>(_ line: Bytes) -> Bool {
        line.allSatisfy { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
    }
}
