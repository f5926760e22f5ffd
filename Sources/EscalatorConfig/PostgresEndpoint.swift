import EscalatorCore
import Foundation

/// How to reach a PostgreSQL server: the connection keys shared by the `source` section (the order database) and
/// the `state` section (a shared state store for active/standby instances).
public struct PostgresEndpoint: Sendable, Hashable {
    public let host: String
    public let port: Int
    public let unixSocket: String?
    public let database: String?
    public let user: String?
    public let password: SourceSettings.PasswordSource
    public let sslMode: SourceSettings.SSLMode
    public let sslRootCert: String?
    public let statementTimeout: Span
    public let connectTimeout: Span

    public init(
        host: String = "127.0.0.1", port: Int = 5432, unixSocket: String? = nil, database: String? = nil, user: String? = nil,
        password: SourceSettings.PasswordSource = .none, sslMode: SourceSettings.SSLMode = .prefer, sslRootCert: String? = nil,
        statementTimeout: Span = .wall(seconds: 30), connectTimeout: Span = .wall(seconds: 10)
    ) {
        self.host = host
        self.port = port
        self.unixSocket = unixSocket
        self.database = database
        self.user = user
        self.password = password
        self.sslMode = sslMode
        self.sslRootCert = sslRootCert
        self.statementTimeout = statementTimeout
        self.connectTimeout = connectTimeout
    }

    /// The keys a section may use to name its server.
    static let keys = [
        "host", "port", "unix_socket", "database", "user", "password_file", "password_credential", "passfile", "sslmode",
        "sslrootcert", "statement_timeout", "connect_timeout",
    ]
}

extension SourceSettings {
    /// The server this source reads from (meaningful for the postgres driver).
    public var endpoint: PostgresEndpoint {
        PostgresEndpoint(
            host: host, port: port, unixSocket: unixSocket, database: database, user: user, password: password, sslMode: sslMode,
            sslRootCert: sslRootCert, statementTimeout: statementTimeout, connectTimeout: connectTimeout)
    }
}

extension RulesBuilder {
    /// Reads the connection keys of `mapping`; nil after reporting a problem with any of them.
    func buildEndpoint(_ mapping: YAMLMapping) -> PostgresEndpoint? {
        var ok = true
        func span(_ key: String, _ fallback: Span) -> Span {
            guard let value = mapping[key], !value.isNull else { return fallback }
            guard let parsed = sink.span(value, key) else {
                ok = false
                return fallback
            }
            if parsed.isZero || parsed.isBusiness {
                sink.error(value, "\(key) must be a wall-clock duration longer than zero, e.g. \"1m\"")
                ok = false
                return fallback
            }
            return parsed
        }
        func path(_ text: String) -> String { text.hasPrefix("/") ? text : "\(directory)/\(text)" }

        var port = 5432
        if let value = mapping["port"], let text = sink.text(value, "port") {
            if let number = Int(text), (1...65535).contains(number) { port = number } else {
                sink.error(value, "port must be a number from 1 to 65535, found \"\(text)\"")
                ok = false
            }
        }
        var password = SourceSettings.PasswordSource.none
        let passwordKeys = ["password_file", "password_credential", "passfile"].filter { mapping[$0] != nil }
        if passwordKeys.count > 1, let second = mapping.keyNode(passwordKeys[1]) {
            sink.error(second, "at most one of password_file, password_credential and passfile may be set")
            ok = false
        } else if let file = mapping.optionalText("password_file", ok: &ok) {
            password = .file(path(file))
        } else if let name = mapping.optionalText("password_credential", ok: &ok) {
            if name.contains("/") || name.isEmpty {
                sink.error(mapping["password_credential"]!, "password_credential is a credential name (as in LoadCredential=), not a path")
                ok = false
            }
            password = .credential(name)
        } else if let file = mapping.optionalText("passfile", ok: &ok) {
            password = .passfile(path(file))
        }
        var sslMode = SourceSettings.SSLMode.prefer
        if let value = mapping["sslmode"], let name = sink.text(value, "sslmode") {
            if let parsed = SourceSettings.SSLMode(rawValue: name) { sslMode = parsed } else {
                reportUnknown(value, "sslmode", name, among: SourceSettings.SSLMode.allCases.map(\.rawValue))
                ok = false
            }
        }
        let host = mapping.optionalText("host", ok: &ok) ?? "127.0.0.1"
        let socket = mapping.optionalText("unix_socket", ok: &ok)
        let database = mapping.optionalText("database", ok: &ok)
        let user = mapping.optionalText("user", ok: &ok)
        let rootCert = mapping.optionalText("sslrootcert", ok: &ok).map(path)
        let endpoint = PostgresEndpoint(
            host: host, port: port, unixSocket: socket, database: database, user: user, password: password, sslMode: sslMode,
            sslRootCert: rootCert, statementTimeout: span("statement_timeout", .wall(seconds: 30)),
            connectTimeout: span("connect_timeout", .wall(seconds: 10)))
        return ok ? endpoint : nil
    }
}
