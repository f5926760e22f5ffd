import EscalatorConfig
import EscalatorCore
import Foundation
import GRDB

/// The embedded default: an SQLite order database, opened read-only.
public final class SQLiteCaseSource: CaseSource {
    private let queue: DatabaseQueue
    private let reader: SourceReader

    public init(settings: SourceSettings) throws {
        guard let path = settings.path else { throw SourceError("open SQLite", "no path is configured") }
        guard FileManager.default.fileExists(atPath: path) else { throw SourceError("open SQLite \(path)", "no such file") }
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(TimeInterval(settings.statementTimeout.fixedSeconds ?? 30))
        configuration.label = "escalator.source"
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
        } catch {
            throw SourceError("open SQLite \(path)", "\(error)")
        }
        reader = SourceReader(settings: settings, dialect: .sqlite)
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

    public func clock(now: Date) async throws -> Date { now }

    public func probe() async throws {
        try await stream("SELECT 1", [], into: RowSink { _ in })
    }

    public func scan(_ sql: String) async throws -> Int { try await SourceReader.count(stream, sql) }

    public func close() async {
        try? queue.close()
    }

    func stream(_ sql: String, _ binds: [SourceValue], into sink: RowSink) async throws {
        let arguments = StatementArguments(binds.map { value -> (any DatabaseValueConvertible)? in
            switch value {
            case .null, .bytes: return nil
            case .integer(let number): return number
            case .real(let number): return number
            case .text(let text): return text
            case .date(let date): return Int64(date.timeIntervalSince1970)
            }
        })
        do {
            try await queue.read { db in
                let statement = try db.makeStatement(sql: sql)
                let columns = ColumnIndex(statement.columnNames)
                let cursor = try Row.fetchCursor(statement, arguments: arguments)
                let count = statement.columnCount
                // Each value is read straight from the statement's current row: going through `Row`'s generic
                // subscript cost a third of a full read in type metadata lookups.
                let sqlite = statement.sqliteStatement
                while try cursor.next() != nil {
                    var values: [SourceValue] = []
                    values.reserveCapacity(count)
                    for index in 0..<count {
                        switch DatabaseValue(sqliteStatement: sqlite, index: CInt(index)).storage {
                        case .null: values.append(.null)
                        case .int64(let number): values.append(.integer(number))
                        case .double(let number): values.append(.real(number))
                        case .string(let text): values.append(.text(text))
                        case .blob(let data): values.append(.bytes(data.count))
                        }
                    }
                    sink.take(SourceRow(columns: columns, values: values))
                }
            }
        } catch {
            throw SourceError("SQLite query", "\(error)")
        }
    }
}
