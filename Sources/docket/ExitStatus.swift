import ArgumentParser
import DocketClient
import DocketProtocol

/// The exit statuses `docket --help` documents; one per kind of failure a script may want to
/// tell apart.
enum ExitStatus: Int32 {
    case success = 0
    case failure = 1
    case usage = 2
    case notFound = 3
    case staleVersion = 4
    case invalidState = 5
    case cannotConnect = 6
    case refused = 7
    case jobFailed = 8
    case jobCancelled = 9

    /// The status for an error of ours or the daemon's; `nil` for argument parser errors.
    init?(_ error: any Error) {
        switch error {
        case let refusal as DocketError:
            switch refusal.code {
            case .notFound: self = .notFound
            case .staleVersion: self = .staleVersion
            case .invalidState: self = .invalidState
            case .shuttingDown, .forbidden: self = .refused
            default: self = .failure
            }
        case DocketClientError.cannotConnect, DocketClientError.connectionClosed:
            self = .cannotConnect
        case is DocketClientError:
            self = .failure
        case let failure as CommandFailure:
            self = failure.status
        default:
            return nil
        }
    }

    static func message(for error: any Error) -> String {
        if let refusal = error as? DocketError { return refusal.message }
        return "\(error)"
    }
}

/// A failure the command itself detects, with its message and exit status.
struct CommandFailure: Error, CustomStringConvertible {
    let status: ExitStatus
    let description: String

    init(_ status: ExitStatus, _ description: String) {
        self.status = status
        self.description = description
    }
}
