import ArgumentParser
import EscalatorSources
import Foundation
import PostgresNIO

struct Generate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a synthetic order database (reference schema) for trials and benchmarks.",
        discussion: """
            SQLite: --sqlite FILE. PostgreSQL: --postgres-host, --postgres-port, --postgres-database and \
            --postgres-user, with the password in the file named by --postgres-password-file. This writes to \
            the database; escalator itself never does.
            """)

    @Option(help: "How many orders.") var cases: Int = 1000
    @Option(help: "The random seed: the same seed gives the same data.") var seed: UInt64 = 1
    @Option(help: "Orders are opened within this many days before --end.") var days: Int = 60
    @Option(help: "The newest instant in the data (ISO 8601); default 2026-05-01T00:00:00Z.") var end: String?
    @Option(help: "Write an SQLite database to this file (replaced if present).") var sqlite: String?
    @Option var postgresHost: String?
    @Option var postgresPort: Int = 5432
    @Option var postgresDatabase: String?
    @Option var postgresUser: String = "postgres"
    @Option(help: "A file holding the PostgreSQL password.") var postgresPasswordFile: String?

    func validate() throws {
        if (sqlite == nil) == (postgresHost == nil) {
            throw ValidationError("give exactly one of --sqlite and --postgres-host")
        }
        if cases < 1 { throw ValidationError("--cases must be at least 1") }
        if let end, ISO8601DateFormatter().date(from: end) == nil { throw ValidationError("--end must be ISO 8601, e.g. 2026-05-01T00:00:00Z") }
    }

    func run() async throws {
        let endDate = end.flatMap { ISO8601DateFormatter().date(from: $0) } ?? Date(timeIntervalSince1970: 1_777_593_600)
        let generator = SyntheticOrders(cases: cases, seed: seed, days: days, end: endDate)
        let started = Date()
        if let sqlite {
            try generator.writeSQLite(path: sqlite)
        } else if let host = postgresHost {
            let password = try postgresPasswordFile.map { try String(contentsOfFile: $0, encoding: .utf8).trimmingCharacters(in: .newlines) }
            let configuration = PostgresConnection.Configuration(
                host: host, port: postgresPort, username: postgresUser, password: password, database: postgresDatabase, tls: .disable)
            try await generator.writePostgres(configuration)
        }
        print("wrote \(cases) orders and \(generator.staff.count) staff in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
    }
}
