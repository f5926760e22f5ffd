import EscalatorConfig
import EscalatorCore
import Foundation

/// The reading both drivers share. A driver supplies only `fetch`: run SQL with parameters, return rows.
struct SourceReader: Sendable {
    typealias Fetch = @Sendable (String, [SourceValue]) async throws -> [RowMapper.Row]

    let settings: SourceSettings
    let mapper: RowMapper
    let queries: QueryBuilder
    /// Ids per IN (…) list.
    static let chunk = 500

    init(settings: SourceSettings, dialect: QueryBuilder.Dialect) {
        self.settings = settings
        self.mapper = RowMapper(settings: settings)
        self.queries = QueryBuilder(settings: settings, dialect: dialect)
    }

    func readAll(asOf: Date?, fetch: Fetch) async throws -> SourceBatch {
        let (sql, binds) = queries.cases(asOf: asOf)
        let rows = try await fetch(sql, binds)
        var batch = assemble(caseRows: rows, isComplete: true)
        if let (activitySQL, activityBinds) = queries.activity(forCases: nil) {
            attach(try await fetch(activitySQL, activityBinds), to: &batch)
        }
        return finish(batch, asOf: asOf)
    }

    func readChanged(since cursor: SourceCursor, asOf: Date?, fetch: Fetch) async throws -> SourceBatch {
        guard settings.change != nil, let mark = cursor.cases else { return try await readAll(asOf: asOf, fetch: fetch) }
        let (sql, binds) = queries.cases(changedSince: mark, asOf: asOf)
        var batch = assemble(caseRows: try await fetch(sql, binds), isComplete: false)
        batch.cursor.cases = [batch.cursor.cases, mark].compactMap { $0 }.max()

        // Cases whose activity changed although their row did not.
        let overlap = settings.change.flatMap { change -> TimeInterval? in
            if case .timestamp(_, let span) = change { return TimeInterval(span.fixedSeconds ?? 0) }
            return nil
        } ?? 300
        if let since = cursor.activity, let (idSQL, idBinds) = queries.casesWithActivity(since: since.addingTimeInterval(-overlap)) {
            var known = Set(batch.cases.map(\.id))
            let extra = try await fetch(idSQL, idBinds).compactMap { $0["case_id"]?.text }.filter { known.insert($0).inserted }
            for start in stride(from: 0, to: extra.count, by: Self.chunk) {
                let ids = Array(extra[start..<min(start + Self.chunk, extra.count)])
                let (byID, byIDBinds) = queries.cases(ids: ids, asOf: asOf)
                let more = assemble(caseRows: try await fetch(byID, byIDBinds), isComplete: false)
                batch.cases += more.cases
                batch.problems += more.problems
            }
        }
        let ids = batch.cases.map(\.id)
        var activityRows: [RowMapper.Row] = []
        for start in stride(from: 0, to: ids.count, by: Self.chunk) {
            let slice = Array(ids[start..<min(start + Self.chunk, ids.count)])
            if let (activitySQL, activityBinds) = queries.activity(forCases: slice) {
                activityRows += try await fetch(activitySQL, activityBinds)
            }
        }
        attach(activityRows, to: &batch)
        batch.cursor.activity = [batch.cursor.activity, cursor.activity].compactMap { $0 }.max()
        return finish(batch, asOf: asOf)
    }

    func readDirectory(fetch: Fetch) async throws -> (people: [Person], problems: [SourceProblem])? {
        guard let query = settings.directory else { return nil }
        let mapped = try await fetch(query.sql, []).map(mapper.mapPerson)
        return (mapped.compactMap(\.person), mapped.flatMap(\.problems))
    }

    private func assemble(caseRows: [RowMapper.Row], isComplete: Bool) -> SourceBatch {
        var cases: [Case] = []
        var problems: [SourceProblem] = []
        var newest: Watermark?
        var seen: Set<String> = []
        cases.reserveCapacity(caseRows.count)
        for row in caseRows {
            let (subject, rowProblems) = mapper.mapCase(row)
            problems += rowProblems
            guard let subject else { continue }
            guard seen.insert(subject.id).inserted else {
                problems.append(SourceProblem(caseID: subject.id, query: "cases", message: "the id appears on more than one row; the first is used", skipped: true))
                continue
            }
            cases.append(subject)
            if let mark = watermark(of: row), newest.map({ mark > $0 }) ?? true { newest = mark }
        }
        return SourceBatch(cases: cases, problems: problems, cursor: SourceCursor(cases: newest), isComplete: isComplete)
    }

    private func watermark(of row: RowMapper.Row) -> Watermark? {
        switch settings.change {
        case .timestamp(let column, _)?:
            guard case .success(let date?) = mapper.timestamps.parse(row[column] ?? .null) else { return nil }
            return .time(date)
        case .version(let column, _)?:
            switch row[column] {
            case .integer(let value)?: return .version(value)
            case .text(let text)?: return Int64(text).map(Watermark.version)
            case .real(let value)?: return .version(Int64(value))
            default: return nil
            }
        case nil:
            return nil
        }
    }

    private func attach(_ rows: [RowMapper.Row], to batch: inout SourceBatch) {
        var index: [String: Int] = [:]
        for (position, subject) in batch.cases.enumerated() { index[subject.id] = position }
        var activity: [Int: [Activity]] = [:]
        var newest = batch.cursor.activity
        for (position, row) in rows.enumerated() {
            let (caseID, item, problems) = mapper.mapActivity(row, position: position)
            guard let caseID, let slot = index[caseID] else {
                batch.problems += problems
                continue
            }
            batch.problems += problems
            guard let item else { continue }
            activity[slot, default: []].append(item)
            if newest.map({ item.at > $0 }) ?? true { newest = item.at }
        }
        for (slot, items) in activity {
            let subject = batch.cases[slot]
            batch.cases[slot] = Case(
                id: subject.id, kind: subject.kind, status: subject.status, owner: subject.owner, openedAt: subject.openedAt,
                promisedAt: subject.promisedAt, closedAt: subject.closedAt, attributes: subject.attributes, activity: items)
        }
        batch.cursor.activity = newest
    }

    private func finish(_ batch: SourceBatch, asOf: Date?) -> SourceBatch {
        guard let asOf else { return batch }
        var sliced = batch
        sliced.cases = batch.cases.compactMap { $0.asOf(asOf) }
        return sliced
    }
}
