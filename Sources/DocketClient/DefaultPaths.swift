#if canImport(Glibc)
import Glibc
#endif

/// Where the socket and the database live when the command line does not say (the contract's
/// order: flag, `DOCKET_*`, systemd's directories, then root's or the user's defaults).
/// Shared by `docketd` and every client so both sides agree without configuration.
public enum DefaultPaths {
    public static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }

    static var isRoot: Bool { geteuid() == 0 }

    public static func socket() -> String {
        if let path = environment("DOCKET_SOCKET") { return path }
        if let runtime = environment("RUNTIME_DIRECTORY") { return firstDirectory(runtime) + "/docket.sock" }
        if isRoot { return "/run/docket/docket.sock" }
        if let runtime = environment("XDG_RUNTIME_DIR") { return runtime + "/docket.sock" }
        return "/tmp/docket-\(geteuid())/docket.sock"
    }

    public static func database() -> String {
        if let path = environment("DOCKET_DB") { return path }
        if let state = environment("STATE_DIRECTORY") { return firstDirectory(state) + "/docket.db" }
        if isRoot { return "/var/lib/docket/docket.db" }
        if let state = environment("XDG_STATE_HOME") { return state + "/docket/docket.db" }
        return (environment("HOME") ?? "/tmp") + "/.local/state/docket/docket.db"
    }

    /// systemd passes a colon-separated list when a unit names several directories.
    private static func firstDirectory(_ list: String) -> String {
        String(list.split(separator: ":").first ?? Substring(list))
    }
}
