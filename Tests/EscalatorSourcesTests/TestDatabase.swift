import EscalatorConfig
import EscalatorCore
import EscalatorTestKit
import Foundation
import GRDB
@testable import EscalatorSources

/// One PostgreSQL server for the suites that do not stop it; each test gets its own database in it.
final class SharedServer: @unchecked Sendable {
    static let shared = SharedServer()
    private let lock = NSLock()
    private var server: Result<PostgresServer, any Error>?

    func get() throws -> PostgresServer {
        lock.lock()
        defer { lock.unlock() }
        if server == nil { server = Result { try PostgresServer() } }
        return try server!.get()
    }
}

enum Driver: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite, postgres
    var description: String { rawValue }
}

/// An order database with the reference schema, written by the test (as the company's own software would) and
/// read by escalator through a read-only source.
final class TestDatabase: @unchecked Sendable {
    let driver: Driver
    let directory: TemporaryDirectory
    let server: PostgresServer?
    let name: String
    private let writer: DatabaseQueue?

    static let readerPassword = "reader-secret-9f2c"

    init(_ driver: Driver, server: PostgresServer? = nil) throws {
        self.driver = driver
        directory = try TemporaryDirectory("escalator-src")
        name = "orders_\(UUID().uuidString.prefix(8).lowercased())"
        switch driver {
        case .sqlite:
            self.server = nil
            writer = try DatabaseQueue(path: "\(directory.path)/orders.db")
            try writer!.write { try $0.execute(sql: ReferenceSchema.sqlite) }
        case .postgres:
            let server = try server ?? SharedServer.shared.get()
            self.server = server
            writer = nil
            try server.psql("CREATE DATABASE \(name)")
            try server.psql(ReferenceSchema.postgres, database: name)
            try server.psql("""
                DO $$ BEGIN
                  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'escalator_ro') THEN
                    CREATE ROLE escalator_ro LOGIN PASSWORD '\(Self.readerPassword)';
                  END IF;
                END $$;
                GRANT CONNECT ON DATABASE \(name) TO escalator_ro;
                """)
            try server.psql("GRANT USAGE ON SCHEMA public TO escalator_ro; GRANT SELECT ON ALL TABLES IN SCHEMA public TO escalator_ro;", database: name)
        }
        try Self.readerPassword.write(toFile: "\(directory.path)/pw", atomically: true, encoding: .utf8)
    }

    deinit { directory.remove() }

    /// Runs SQL as the writer.
    func execute(_ sql: String) throws {
        switch driver {
        case .sqlite: try writer!.write { try $0.execute(sql: sql) }
        case .postgres: try server!.psql(sql, database: name)
        }
    }

    /// The `source` section for this database, with extra keys and overrides.
    func sourceYAML(_ extra: String = "", user: String = "escalator_ro", passwordKey: String? = nil) -> String {
        let connection: String
        switch driver {
        case .sqlite:
            connection = "  driver: sqlite\n  path: \(directory.path)/orders.db\n"
        case .postgres:
            let password = passwordKey ?? "password_file: \(directory.path)/pw"
            connection = """
                  driver: postgres
                  host: 127.0.0.1
                  port: \(server!.port)
                  database: \(name)
                  user: \(user)
                  \(password)
                  sslmode: disable
                  statement_timeout: 2s

                """
        }
        return """
            source:
            \(connection)  cases:
                query: SELECT * FROM orders
                attributes: [sales_rep]
                changed_at: updated_at
                overlap: 5m
              activity:
                query: SELECT * FROM order_activity
                columns: { case: order_id }
              directory:
                query: SELECT * FROM staff
            \(extra)
            """
    }

    /// Loads a configuration holding just the source section, as the daemon would.
    func settings(_ yaml: String? = nil) throws -> SourceSettings {
        let config = try TemporaryDirectory("escalator-cfg")
        defer { config.remove() }
        try (yaml ?? sourceYAML()).write(toFile: "\(config.path)/escalator.yaml", atomically: true, encoding: .utf8)
        let result = ConfigLoader.load(directory: config.path)
        guard let source = result.configuration?.source else {
            throw PostgresServer.Failure(description: "source config did not load: \(result.diagnostics)")
        }
        return source
    }

    func open(_ settings: SourceSettings? = nil, environment: [String: String] = [:]) throws -> any CaseSource {
        try CaseSources.open(settings ?? self.settings(), environment: environment)
    }

    /// Inserts the staff used by the tests.
    func addStaff() throws {
        try execute("""
            INSERT INTO staff (id, name, email, supervisor) VALUES ('mgr1', 'Store Manager', 'manager@trophy.example', NULL);
            INSERT INTO staff (id, name, email, supervisor) VALUES ('rep5', 'Supervisor', 'sup@trophy.example', 'mgr1');
            INSERT INTO staff (id, name, email, supervisor) VALUES ('rep3', 'Company Rep 3', 'rep3@trophy.example', 'rep5');
            INSERT INTO staff (id, name, email, supervisor) VALUES ('rep4', 'Company Rep 4', 'rep4@trophy.example', 'rep5');
            """)
    }

    /// PostgreSQL: lets the read-only role read tables the test created after the database was set up.
    func grantReader() throws {
        if driver == .postgres { try execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO escalator_ro") }
    }
}
