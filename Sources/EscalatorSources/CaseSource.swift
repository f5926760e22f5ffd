import EscalatorConfig
import EscalatorCore
import Foundation

/// The order database, read-only: cases with their activity, and optionally the people directory.
public protocol CaseSource: Sendable {
    /// Every case (as of `asOf`, if given), with its activity. Used at start and for the periodic full resync.
    /// With `packing`, the cases come packed, each with its fingerprint, in `SourceBatch.packed` (see
    /// `SourceReader.PackingAttacher`), and `cases` is empty; packed onto a shelf, their bytes are in its file.
    func readAll(asOf: Date?, packing: CasePacking) async throws -> SourceBatch
    /// The cases whose row or activity changed since `cursor` (less the overlap), with all their activity.
    func readChanged(since cursor: SourceCursor, asOf: Date?) async throws -> SourceBatch
    /// The people of the directory query; nil when none is configured.
    func readDirectory() async throws -> (people: [Person], problems: [SourceProblem])?
    /// The database's clock, read just before a poll: a row stamped `overlap` before it has committed by then, so
    /// the read sees it and the next poll need not read it again (see `SourceReader.readStart`). SQLite has no
    /// server and is written on this host, so its clock is the caller's `now` (a virtual one in the demo and tests).
    func clock(now: Date) async throws -> Date
    /// Checks that the database answers (a trivial query), without reading any case.
    func probe() async throws
    /// Runs a query and reads every row into values as a read does, then lets them go; returns how many rows. For
    /// the benchmark: what reading alone costs, without mapping, packing or evaluating.
    func scan(_ sql: String) async throws -> Int
    /// Releases connections. The source is not used afterwards.
    func close() async
}

extension CaseSource {
    /// Every case, as structs.
    public func readAll(asOf: Date?) async throws -> SourceBatch { try await readAll(asOf: asOf, packing: .none) }
}

/// How a full read hands over its cases: as structs, packed in memory, or packed onto a shelf (a scratch file, see
/// `Shelf`).
public enum CasePacking: Sendable {
    case none
    case memory
    case shelf(Shelf)

    var packs: Bool {
        if case .none = self { return false }
        return true
    }

    var shelf: Shelf? {
        if case .shelf(let shelf) = self { return shelf }
        return nil
    }
}

/// How far polling has read: the newest change seen, in the change column's terms.
public enum Watermark: Sendable, Hashable, Comparable {
    case time(Date)
    case version(Int64)

    public static func < (lhs: Watermark, rhs: Watermark) -> Bool {
        switch (lhs, rhs) {
        case (.time(let a), .time(let b)): return a < b
        case (.version(let a), .version(let b)): return a < b
        case (.time, .version): return true
        case (.version, .time): return false
        }
    }
}

/// How far polling has read: the newest case change and the newest activity seen.
public struct SourceCursor: Sendable, Hashable {
    public var cases: Watermark?
    public var activity: Date?
    /// The rows of the overlap window as last read; nil when not known (then nothing read again is skipped).
    public var recent: RecentRows?
    /// The database's clock just before the read began; nil when not asked (as-of reads, direct calls).
    public var clock: Date?

    public init(cases: Watermark? = nil, activity: Date? = nil, recent: RecentRows? = nil, clock: Date? = nil) {
        self.cases = cases
        self.activity = activity
        self.recent = recent
        self.clock = clock
    }

    /// The later of each part, and the newer window.
    public func advanced(to other: SourceCursor) -> SourceCursor {
        SourceCursor(
            cases: [cases, other.cases].compactMap { $0 }.max(),
            activity: [activity, other.activity].compactMap { $0 }.max(),
            recent: other.recent ?? recent,
            clock: [clock, other.clock].compactMap { $0 }.max())
    }
}

/// Where a poll's range read on a change column starts.
public enum ReadStart: Sendable, Hashable {
    /// At this mark or later.
    case from(Watermark)
    /// Only later than this mark.
    case after(Watermark)
}

/// What the last read saw in the overlap window, the rows every poll reads again to catch late commits: each case
/// row's content (by hash) and each activity row's. A poll then reads in full only the cases whose row is new or
/// different, or that have an activity row not seen before, so a poll with nothing new costs two narrow range
/// reads however large the database. Hashes are of this process's run; the window starts empty at every start.
public struct RecentRows: Sendable, Hashable {
    var cases: [String: Int] = [:]
    var activity: Set<Int> = []
}

/// What one read returned.
public struct SourceBatch: Sendable {
    public var cases: [Case]
    public var problems: [SourceProblem]
    /// The newest changes seen among the rows read.
    public var cursor: SourceCursor
    /// True for a full read: any known case missing from it was deleted.
    public let isComplete: Bool
    /// How many rows the database returned for this read, all queries together.
    public var rowsRead = 0
    /// A packing full read's cases, each with the fingerprint of the case as read (its `hashValue`).
    public var packed: [(subject: PackedCase, fingerprint: Int)] = []

    public init(cases: [Case], problems: [SourceProblem], cursor: SourceCursor, isComplete: Bool) {
        self.cases = cases
        self.problems = problems
        self.cursor = cursor
        self.isComplete = isComplete
    }
}

/// A failure to read the source, with what was being done.
public struct SourceError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let detail: String

    public init(_ operation: String, _ detail: String) {
        self.operation = operation
        self.detail = detail
    }

    public var description: String { "\(operation): \(detail)" }
}

/// Opens the configured source.
public enum CaseSources {
    public static func open(_ settings: SourceSettings, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> any CaseSource {
        switch settings.driver {
        case .sqlite: return try SQLiteCaseSource(settings: settings)
        case .postgres: return try PostgresCaseSource(settings: settings, environment: environment)
        }
    }
}

/// Builds the queries around the configured ones, so both drivers read the same way.
struct QueryBuilder {
    enum Dialect { case sqlite, postgres }

    let settings: SourceSettings
    let dialect: Dialect

    static func quote(_ identifier: String) -> String { "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    func placeholder(_ n: Int) -> String { dialect == .sqlite ? "?" : "$\(n)" }

    private func trimmed(_ sql: String) -> String {
        var text = sql.trimmingCharacters(in: .whitespacesAndNewlines)
        while text.hasSuffix(";") { text.removeLast() }
        return text
    }

    /// SQLite: a timestamp column as Unix seconds, whether it holds numbers or text. Text without a zone is read in
    /// the configured zone (at the offset `offset`).
    private func sqliteSeconds(_ column: String, offset: Int) -> String {
        "(CASE WHEN typeof(\(column)) IN ('integer', 'real') THEN \(column) ELSE CAST(strftime('%s', \(column)) AS INTEGER) - \(offset) END)"
    }

    /// `column` at or after `from`, for SQLite, in a form its index on the column can serve. The exact test
    /// (`sqliteSeconds`) decides; two index ranges narrow what it runs on: numbers at or above the epoch seconds
    /// (an index orders every number before every text, and '' is the least text), and texts at or above
    /// `from` less 26 hours, written "YYYY-MM-DD HH:MM:SS" in UTC.
    ///
    /// Why that text bound misses nothing: a text naming an instant at or after `from` reads, on its own clock,
    /// at least `from` less its offset behind UTC (12 hours in any real zone, less than 24 in any ISO 8601 offset),
    /// so later than the bound's reading. Its date is then after the bound's, or the same date with a later time;
    /// a 'T' separator sorts after the bound's space, and a space-separated time compares digit by digit. The
    /// hours to spare keep it strictly later, so a bare date or a time without seconds cannot fall on the bound
    /// and sort before it as a prefix. (The bound used to be two days before `from`'s date: up to three days of
    /// rows for the exact test on every poll, where this is about one.)
    static func sqliteTextBound(from: Date) -> String {
        let iso = UTCTimestamp.format(from.addingTimeInterval(-26 * 3600))
        return String(iso.prefix(10)) + " " + String(iso.dropFirst(11).prefix(8))
    }

    private func sqliteSince(_ column: String, _ start: Date, after: Bool) -> (sql: String, binds: [SourceValue]) {
        // SQLite's exact test compares whole seconds: "after" a moment is from the next second.
        let from = after ? Date(timeIntervalSince1970: start.timeIntervalSince1970.rounded(.down) + 1) : start
        let seconds = Int64(from.timeIntervalSince1970.rounded(.down))
        // Declared UTC text sorts in time order: the range starts at `from`'s own second, so a poll reads only the
        // rows since (`timestamps: utc`; a row written otherwise is found by the next full read).
        let bound = settings.timestamps == .utc ? String(UTCTimestamp.format(from).dropLast()) : Self.sqliteTextBound(from: from)
        let exact = sqliteSeconds(column, offset: settings.timeZone.secondsFromGMT(for: from))
        return ("((\(column) >= ? AND \(column) < '') OR (\(column) >= ? AND \(exact) >= ?))", [.integer(seconds), .text(bound), .integer(seconds)])
    }

    /// `column` in the range that starts at `start`, in the dialect's form. It is always a query's first condition,
    /// so its parameter is the first.
    private func since(_ column: String, _ start: ReadStart) -> (sql: String, binds: [SourceValue]) {
        let (mark, after): (Watermark, Bool) = switch start {
        case .from(let mark): (mark, false)
        case .after(let mark): (mark, true)
        }
        let operation = after ? ">" : ">="
        switch (mark, dialect) {
        case (.time(let date), .sqlite): return sqliteSince(column, date, after: after)
        case (.time(let date), .postgres): return ("\(column) \(operation) \(placeholder(1))", [.date(date)])
        case (.version(let version), _): return ("\(column) \(operation) \(placeholder(1))", [.integer(version)])
        }
    }

    /// `SELECT * FROM (cases) c [WHERE …]` with its parameters in order. Conditions are ANDed.
    func cases(changedSince start: ReadStart? = nil, ids: [String]? = nil, asOf: Date? = nil) -> (sql: String, binds: [SourceValue]) {
        var conditions: [String] = []
        var binds: [SourceValue] = []
        if let start, let column = settings.change?.column {
            let (sql, values) = since("c.\(Self.quote(column))", start)
            conditions.append(sql)
            binds += values
        }
        if let ids {
            let list = ids.map { id -> String in
                binds.append(.text(id))
                return placeholder(binds.count)
            }
            conditions.append("c.\(Self.quote(settings.cases.column("id"))) IN (\(list.joined(separator: ", ")))")
        }
        if let asOf {
            conditions.append(openedBefore(binds.count + 1))
            binds.append(asOfValue(asOf))
        }
        let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        return ("SELECT * FROM (\(trimmed(settings.cases.sql))) AS c\(filter)", binds)
    }

    private func openedBefore(_ n: Int) -> String {
        let c = "c.\(Self.quote(settings.cases.column("opened_at")))"
        switch dialect {
        case .sqlite:
            return "\(sqliteSeconds(c, offset: settings.timeZone.secondsFromGMT())) <= ?"
        case .postgres:
            return "\(c) <= \(placeholder(n))"
        }
    }

    private func asOfValue(_ date: Date) -> SourceValue {
        dialect == .sqlite ? .integer(Int64(date.timeIntervalSince1970.rounded(.down))) : .date(date)
    }

    /// The activity of some cases (or of all), ordered by case and time.
    func activity(forCases ids: [String]?) -> (sql: String, binds: [SourceValue])? {
        guard let query = settings.activity else { return nil }
        let caseColumn = "a.\(Self.quote(query.column("case")))"
        var binds: [SourceValue] = []
        var filter = ""
        if let ids {
            let list = ids.map { id -> String in
                binds.append(.text(id))
                return placeholder(binds.count)
            }
            filter = " WHERE \(caseColumn) IN (\(list.joined(separator: ", ")))"
        }
        return ("SELECT * FROM (\(trimmed(query.sql))) AS a\(filter) ORDER BY \(caseColumn)", binds)
    }

    /// The activity rows in a range of time (activity is appended, so its time is its change).
    func activity(since start: ReadStart) -> (sql: String, binds: [SourceValue])? {
        guard let query = settings.activity else { return nil }
        // Whole rows, not only case ids: the reader compares them with the rows it saw in the overlap window.
        let (condition, binds) = since("a.\(Self.quote(query.column("at")))", start)
        return ("SELECT * FROM (\(trimmed(query.sql))) AS a WHERE \(condition)", binds)
    }
}
