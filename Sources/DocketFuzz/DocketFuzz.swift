import CFuzzerDriver
import DocketProtocol

#if canImport(Glibc)
import Glibc
#endif

/// libFuzzer's callback. libFuzzer's own `main`, linked in with the runtime, refers to it,
/// so it must exist even though `DocketFuzz.main` hands it to `LLVMFuzzerRunDriver` itself.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzInput.run(UnsafeBufferPointer(start: data, count: size))
    return 0
}

/// Built with `-sanitize=fuzzer,address` (see run.sh) this is a libFuzzer binary taking
/// libFuzzer's flags. Built without, it replays the files it is given, so a crasher can be
/// reproduced with a plain debug build and Swift's own backtraces.
@main
enum DocketFuzz {
    static func main() {
        if docket_fuzzer_linked() != 0 {
            var argc = CommandLine.argc
            var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
            exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput))
        }
        let paths = CommandLine.arguments.dropFirst().filter { !$0.hasPrefix("-") }
        guard !paths.isEmpty else {
            print("usage: DocketFuzz FILE... (replays inputs; build with -sanitize=fuzzer to fuzz, see Sources/DocketFuzz/run.sh)")
            exit(2)
        }
        for path in paths {
            guard let bytes = readFile(path) else {
                print("cannot read \(path)")
                exit(1)
            }
            bytes.withUnsafeBufferPointer { FuzzInput.run($0) }
            print("ok \(path) (\(bytes.count) bytes)")
        }
    }

    static func readFile(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            bytes.append(contentsOf: chunk[0..<count])
            if count < chunk.count { return ferror(file) == 0 ? bytes : nil }
        }
    }
}
