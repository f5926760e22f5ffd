import EscalatorConfig
import EscalatorCore
import Foundation
import Logging
import NIOSSL
import PostgresNIO

/// A PostgreSQL order database. Every session is read-only (`default_transaction_read_only`) and every statement
/// has a timeout; TLS follows libpq's `sslmode`.
public final class PostgresCaseSource: CaseSource {
    private let configuration: PostgresConnection.Configuration
    private let reader: SourceReader
    private let holder = ConnectionHolder()
    private let logger: Logger

    public init(settings: SourceSettings, environment: [String: String], logger: Logger = Logger(label: "escalator.source")) throws {
        self.configuration = try settings.endpoint.connectionConfiguration(
            environment: environment, parameters: [("default_transaction_read_only", "on"), ("TimeZone", settings.timeZone.identifier)])
        self.reader = SourceReader(settings: settings, dialect: .postgres)
        self.logger = logger
    }

    public func readAll(asOf: Date?, packing: CasePacking) async throws -> SourceBatch {
        try await reader.readAll(asOf: asOf, packing: packing, stream: stream)
    }

    public func readChanged(since cursor: SourceCursor, asOf: Date?) async throws -> SourceBatch {
        try await reader.readChanged(since: cursor, asOf: asOf, stream: stream)
    }

    public func readDirectory() async throws -> (people: [Person], problems: [SourceProblem])? {
        try await reader.readDirectory(stream: stream)
    }

    public func clock(now: Date) async throws -> Date {
        let rows = try await SourceReader.collect(stream, "SELECT statement_timestamp()", [])
        guard case .date(let date)? = rows.first?.values.first else {
            throw SourceError("read the PostgreSQL clock", "statement_timestamp() gave no time")
        }
        return date
    }

    public func probe() async throws {
        try await stream("SELECT 1", [], into: RowSink { _ in })
    }

    public func scan(_ sql: String) async throws -> Int { try await SourceReader.count(stream, sql) }

    public func close() async {
        await holder.reset()
    }

    func stream(_ sql: String, _ binds: [SourceValue], into sink: RowSink) async throws {
        var bindings = PostgresBindings(capacity: binds.count)
        for value in binds {
            switch value {
            case .null, .bytes: bindings.appendNull()
            case .integer(let number): bindings.append(number)
            case .real(let number): bindings.append(number)
            case .text(let text): bindings.append(text)
            case .date(let date): bindings.append(date)
            }
        }
        let connection: PostgresConnection
        do {
            connection = try await holder.connection(configuration, logger: logger)
        } catch {
            throw SourceError("connect to PostgreSQL", String(reflecting: error).prefix(300).description)
        }
        do {
            let rows = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
            var columns: ColumnIndex?
            for try await row in rows {
                var values: [SourceValue] = []
                values.reserveCapacity(row.count)
                for cell in row { values.append(Self.value(cell)) }
                let index = columns ?? ColumnIndex(row.map(\.columnName))
                columns = index
                sink.take(SourceRow(columns: index, values: values))
            }
        } catch {
            if connection.isClosed { await holder.reset() }
            throw SourceError("PostgreSQL query", Self.describe(error))
        }
    }

    public static func describe(_ error: any Error) -> String {
        if let psql = error as? PSQLError {
            if let message = psql.serverInfo?[.message] { return message }
            return "\(psql.code)"
        }
        return "\(error)"
    }

    /// A cell as a source value, by its PostgreSQL type.
    static func value(_ cell: PostgresCell) -> SourceValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8:
            return (try? cell.decode(Int64.self)).map(SourceValue.integer) ?? .null
        case .float4, .float8:
            return (try? cell.decode(Double.self)).map(SourceValue.real) ?? .null
        case .timestamptz, .timestamp, .date:
            return (try? cell.decode(Date.self)).map(SourceValue.date) ?? .null
        case .bool:
            return (try? cell.decode(Bool.self)).map { .text($0 ? "true" : "false") } ?? .null
        case .bytea:
            return .bytes(cell.bytes?.readableBytes ?? 0)
        default:
            if let text = try? cell.decode(String.self) { return .text(text) }
            return .bytes(cell.bytes?.readableBytes ?? 0)
        }
    }
}

/// One connection, opened on first use and again after it breaks.
actor ConnectionHolder {
    private var current: PostgresConnection?
    private var nextID = 0

    func connection(_ configuration: PostgresConnection.Configuration, logger: Logger) async throws -> PostgresConnection {
        if let current, !current.isClosed { return current }
        nextID += 1
        let connection = try await PostgresConnection.connect(configuration: configuration, id: nextID, logger: logger)
        current = connection
        return connection
    }

    func reset() async {
        if let current { try? await current.close() }
        current = nil
    }

    /// A source dropped without `close()` still closes its connection; the closure keeps the connection alive
    /// until the close has finished.
    deinit {
        if let connection = current, !connection.isClosed {
            connection.close().whenComplete { _ in _ = connection }
        }
    }
}

extension PostgresEndpoint {
    /// A PostgresNIO configuration for this server: its password read now (file, systemd credential or passfile),
    /// TLS as libpq's `sslmode` means it, the statement timeout, and `parameters` set for every session.
    public func connectionConfiguration(
        environment: [String: String], parameters: [(String, String)], applicationName: String = "escalator"
    ) throws -> PostgresConnection.Configuration {
        let password = try PostgresPassword.read(self, environment: environment)
        let user = self.user ?? environment["USER"] ?? "escalator"
        var configuration: PostgresConnection.Configuration
        if let unixSocket {
            configuration = .init(unixSocketPath: unixSocket, username: user, password: password, database: database)
        } else {
            configuration = .init(host: host, port: port, username: user, password: password, database: database, tls: try tls())
        }
        let timeoutMilliseconds = (statementTimeout.fixedSeconds ?? 30) * 1000
        configuration.options.additionalStartupParameters =
            [("statement_timeout", String(timeoutMilliseconds)), ("application_name", applicationName)] + parameters
        configuration.options.connectTimeout = .seconds(Int64(connectTimeout.fixedSeconds ?? 10))
        return configuration
    }

    func tls() throws -> PostgresConnection.Configuration.TLS {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch sslMode {
        case .disable:
            return .disable
        case .allow, .prefer, .require:
            // libpq: these encrypt but do not verify the server (require only insists on encryption).
            tls.certificateVerification = .none
        case .verifyCA:
            tls.certificateVerification = .noHostnameVerification
        case .verifyFull:
            tls.certificateVerification = .fullVerification
        }
        if let sslRootCert {
            tls.trustRoots = .file(sslRootCert)
        }
        let context = try NIOSSLContext(configuration: tls)
        switch sslMode {
        case .allow, .prefer: return .prefer(context)
        default: return .require(context)
        }
    }
}
