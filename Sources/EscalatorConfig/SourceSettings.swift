import EscalatorCore
import Foundation

/// The `source` section: how to reach the order database and how its rows map onto cases.
public struct SourceSettings: Sendable, Hashable {
    public enum Driver: String, Sendable, Hashable, CaseIterable {
        case sqlite, postgres
    }

    /// libpq's `sslmode` names.
    public enum SSLMode: String, Sendable, Hashable, CaseIterable {
        case disable, allow, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    /// Where the PostgreSQL password comes from. It is never given inline.
    public enum PasswordSource: Sendable, Hashable {
        /// A file holding the password (its first line).
        case file(String)
        /// A systemd credential: `$CREDENTIALS_DIRECTORY/NAME`.
        case credential(String)
        /// A `.pgpass`-style file: `host:port:database:user:password` lines, `*` as a wildcard.
        case passfile(String)
        case none
    }

    /// How changed rows are found.
    public enum Change: Sendable, Hashable {
        /// A timestamp column; rows at or after (watermark − overlap) are read again.
        case timestamp(column: String, overlap: Span)
        /// A monotonically increasing integer column; the last `overlap` versions are read again.
        case version(column: String, overlap: Int64)

        /// The change column.
        public var column: String {
            switch self {
            case .timestamp(let column, _), .version(let column, _): return column
            }
        }
    }

    /// A query and how its columns map onto the model's fields.
    public struct Query: Sendable, Hashable {
        public let sql: String
        /// Model field → column name.
        public let columns: [String: String]
        public func column(_ field: String) -> String { columns[field] ?? field }
    }

    public let driver: Driver
    /// SQLite: the database file.
    public let path: String?
    public let host: String
    public let port: Int
    public let unixSocket: String?
    public let database: String?
    public let user: String?
    public let password: PasswordSource
    public let sslMode: SSLMode
    public let sslRootCert: String?
    public let statementTimeout: Span
    public let connectTimeout: Span
    public let pollEvery: Span
    public let fullResyncEvery: Span
    /// The zone of timestamps stored without one.
    public let timeZone: TimeZone
    /// How the change column and the activity time are written (SQLite): `any` form, or only UTC text ending in Z
    /// (and Unix seconds), which lets a poll read an exact index range.
    public let timestamps: TimestampForm

    public enum TimestampForm: String, Sendable, Hashable, CaseIterable {
        /// Any ISO 8601 text, with or without a zone, or Unix seconds.
        case any
        /// ISO 8601 text in UTC ending in Z (`2026-03-02T09:30:00Z`, with or without a fraction), or Unix seconds.
        case utc
    }
    public let cases: Query
    /// Case columns copied into the case's attributes.
    public let attributes: [String]
    public let change: Change?
    public let activity: Query?
    /// Database values of the activity kind column → activity kinds.
    public let kindNames: [String: Activity.Kind]
    public let directory: Query?

    init(
        driver: Driver, path: String?, endpoint: PostgresEndpoint, pollEvery: Span, fullResyncEvery: Span, timeZone: TimeZone,
        timestamps: TimestampForm = .any, cases: Query, attributes: [String], change: Change?, activity: Query?, kindNames: [String: Activity.Kind], directory: Query?
    ) {
        self.driver = driver
        self.path = path
        host = endpoint.host
        port = endpoint.port
        unixSocket = endpoint.unixSocket
        database = endpoint.database
        user = endpoint.user
        password = endpoint.password
        sslMode = endpoint.sslMode
        sslRootCert = endpoint.sslRootCert
        statementTimeout = endpoint.statementTimeout
        connectTimeout = endpoint.connectTimeout
        self.pollEvery = pollEvery
        self.fullResyncEvery = fullResyncEvery
        self.timeZone = timeZone
        self.timestamps = timestamps
        self.cases = cases
        self.attributes = attributes
        self.change = change
        self.activity = activity
        self.kindNames = kindNames
        self.directory = directory
    }

    /// The model fields that a column mapping may name.
    public static let caseFields = ["id", "kind", "status", "owner", "opened_at", "promised_at", "closed_at"]
    public static let activityFields = ["id", "case", "kind", "at", "actor", "text", "tag", "status", "person", "due", "quantity", "ref", "kept_by"]
    public static let directoryFields = ["id", "name", "email", "supervisor", "calendar"]
}
