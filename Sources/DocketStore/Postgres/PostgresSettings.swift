import NIOSSL
import PostgresNIO

/// Where a PostgreSQL store lives, read from a libpq-style URL:
/// `postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?host=/run/postgresql&sslmode=disable]`.
///
/// The password never appears in `description`, which is what logs and errors show.
public struct PostgresSettings: Sendable, CustomStringConvertible {
    public var configuration: PostgresConnection.Configuration
    /// The URL with the password masked.
    public let description: String

    /// True for a `--db` that names a PostgreSQL store rather than a SQLite file.
    public static func isPostgresURL(_ text: String) -> Bool {
        text.hasPrefix("postgresql://") || text.hasPrefix("postgres://")
    }

    /// `environment` supplies `PGPASSWORD` when the URL has no password.
    public init(url text: String, environment: [String: String] = [:]) throws(StoreError) {
        guard let schemeEnd = text.range(of: "://"), Self.isPostgresURL(text) else {
            throw .invalidRequest("\(text) is not a postgresql:// URL")
        }
        var rest = Substring(text[schemeEnd.upperBound...])
        var query: [String: String] = [:]
        if let mark = rest.firstIndex(of: "?") {
            for pair in rest[rest.index(after: mark)...].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                query[Self.decode(parts[0])] = parts.count > 1 ? Self.decode(parts[1]) : ""
            }
            rest = rest[..<mark]
        }
        var user = "postgres"
        var password: String?
        var maskedCredentials = ""
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                user = Self.decode(credentials[..<colon])
                password = Self.decode(credentials[credentials.index(after: colon)...])
                maskedCredentials = "\(credentials[..<colon]):***@"
            } else {
                user = Self.decode(credentials)
                maskedCredentials = "\(credentials)@"
            }
        }
        let hostPort: Substring
        var database: String?
        if let slash = rest.firstIndex(of: "/") {
            hostPort = rest[..<slash]
            let name = Self.decode(rest[rest.index(after: slash)...])
            database = name.isEmpty ? nil : name
        } else {
            hostPort = rest
        }
        var host = String(hostPort)
        var port = 5432
        if let colon = hostPort.lastIndex(of: ":"), !hostPort.hasPrefix("[") || hostPort[..<colon].hasSuffix("]") {
            guard let number = Int(hostPort[hostPort.index(after: colon)...]), (1...65535).contains(number) else {
                throw .invalidRequest("the port in \(Self.masked(text)) is not a number from 1 to 65535")
            }
            port = number
            host = String(hostPort[..<colon])
        }
        if let portText = query["port"] {
            guard let number = Int(portText), (1...65535).contains(number) else {
                throw .invalidRequest("port=\(portText) is not a number from 1 to 65535")
            }
            port = number
        }
        if let name = query["user"] { user = name }
        if let name = query["dbname"] { database = name }
        if password == nil { password = query["password"] ?? environment["PGPASSWORD"] }
        host = host.trimmingBrackets()
        let socketDirectory = query["host"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? (host.hasPrefix("/") ? host : nil)
        if let directory = socketDirectory {
            configuration = PostgresConnection.Configuration(
                unixSocketPath: "\(directory)/.s.PGSQL.\(port)", username: user, password: password, database: database)
        } else {
            if host.isEmpty { host = query["host"] ?? "localhost" }
            let tls: PostgresConnection.Configuration.TLS
            do {
                switch query["sslmode"] ?? "prefer" {
                case "disable": tls = .disable
                case "prefer", "allow": tls = .prefer(try NIOSSLContext(configuration: .clientDefault))
                case "require", "verify-ca", "verify-full": tls = .require(try NIOSSLContext(configuration: .clientDefault))
                case let other:
                    throw StoreError.invalidRequest("sslmode=\(other) is not one of disable, prefer, require")
                }
            } catch let error as StoreError {
                throw error
            } catch {
                throw .invalidRequest("cannot set up TLS for \(Self.masked(text)): \(error)")
            }
            configuration = PostgresConnection.Configuration(
                host: host, port: port, username: user, password: password, database: database, tls: tls)
        }
        // A server that does not answer must not hold a request for long: the client is
        // told `unavailable` and may retry.
        configuration.options.connectTimeout = .seconds(3)
        // libpq's `options`: server settings for the session, such as
        // `-c search_path=jobs` to keep the store in a schema of its own.
        if let options = query["options"] { configuration.options.additionalStartupParameters.append(("options", options)) }
        description = "postgresql://\(maskedCredentials)\(hostPort)/\(database ?? "")"
            + (query.isEmpty ? "" : "?" + query.filter { $0.key != "password" }.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "&"))
    }

    /// The URL with any password replaced, for messages about a URL that did not parse.
    public static func masked(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://"), let at = url[schemeEnd.upperBound...].lastIndex(of: "@") else { return url }
        let credentials = url[schemeEnd.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return url }
        return url.replacingCharacters(in: credentials.index(after: colon)..<at, with: "***")
    }

    /// Percent-decoding, as libpq applies it to every part of the URL.
    private static func decode(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next(),
                let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            {
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension String {
    fileprivate func trimmingBrackets() -> String {
        hasPrefix("[") && hasSuffix("]") ? String(dropFirst().dropLast()) : self
    }

    fileprivate func replacingCharacters(in range: Range<String.Index>, with replacement: String) -> String {
        var copy = self
        copy.replaceSubrange(range, with: replacement)
        return copy
    }
}
