import CSystemd

/// The service manager's side channel, through libsystemd. Every call is a no-op when the
/// daemon was not started by systemd (no `NOTIFY_SOCKET`).
public enum Systemd {
    /// Sends `KEY=value` lines such as `READY=1` or `STATUS=…`.
    public static func notify(_ state: String) {
        _ = sd_notify(0, state)
    }
}
