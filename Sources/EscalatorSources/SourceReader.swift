import EscalatorConfig
import EscalatorCore
import Foundation

/// Where a driver hands the rows it reads, one at a time (on the driver's thread, within the read).
final class RowSink: @unchecked Sendable {
    let take: (RowMapper.Row) -> Void
    init(_ take: @escaping (RowMapper.Row) -> Void) { self.take = take }
}

/// Rows gathered from a stream.
final class Collected: @unchecked Sendable {
    var items: [RowMapper.Row] = []
}

/// Rows counted from a stream.
final class Counted: @unchecked Sendable {
    var count = 0
}

/// The reading both drivers share. A driver supplies `stream`: run SQL with parameters, hand over each row.
struct SourceReader: Sendable {
    /// Runs SQL and hands each row to the sink as it is read: a full read never holds every row at once.
    typealias Stream = @Sendable (String, [SourceValue], RowSink) async throws -> Void

    /// Every row of a query, for the small reads (an incremental poll's, the directory's).
    static func collect(_ stream: Stream, _ sql: String, _ binds: [SourceValue]) async throws -> [RowMapper.Row] {
        let rows = Collected()
        try await stream(sql, binds, RowSink { rows.items.append($0) })
        return rows.items
    }

    /// How many rows a query has, each read into values and let go (`CaseSource.scan`).
    static func count(_ stream: Stream, _ sql: String) async throws -> Int {
        let rows = Counted()
        try await stream(sql, [], RowSink { _ in rows.count += 1 })
        return rows.count
    }

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

    func readAll(asOf: Date?, packing: CasePacking = .none, stream: Stream) async throws -> SourceBatch {
        let (sql, binds) = queries.cases(asOf: asOf)
        let assembler = CaseAssembler(reader: self)
        var rowsRead = 0
        try await stream(sql, binds, RowSink { assembler.add($0) })
        rowsRead += assembler.rows
        var (batch, caseHashes) = assembler.result(isComplete: true)
        // The window the next poll reads again: case rows and activity within the overlap of the newest seen.
        var recent = RecentRows()
        if let newest = batch.cursor.cases {
            let start = windowStart(newest)
            for (id, mark, hash) in caseHashes where mark >= start { recent.cases[id] = hash }
        }
        caseHashes = []
        if packing.packs {
            let packer = PackingAttacher(reader: self, batch: batch, asOf: asOf, shelf: packing.shelf)
            batch.cases = []
            if let (activitySQL, activityBinds) = queries.activity(forCases: nil) {
                try await stream(activitySQL, activityBinds, RowSink { packer.add($0) })
                packer.drain()
                rowsRead += packer.position
            }
            packer.finish(&batch, window: &recent)
        } else {
            if let (activitySQL, activityBinds) = queries.activity(forCases: nil) {
                let attacher = ActivityAttacher(reader: self, batch: batch)
                try await stream(activitySQL, activityBinds, RowSink { attacher.add($0) })
                rowsRead += attacher.position
                attacher.finish(&batch)
            }
            if let newest = batch.cursor.activity {
                let start = newest.addingTimeInterval(-activityOverlap)
                for subject in batch.cases {
                    for item in subject.activity where item.at >= start { recent.activity.insert(Self.identity(subject.id, item)) }
                }
            }
        }
        batch.rowsRead = rowsRead
        batch.cursor.recent = recent
        // A packing read has seen each case as of `asOf` already.
        return packing.packs ? batch : finish(batch, asOf: asOf)
    }

    /// How far back each poll reads activity again.
    var activityOverlap: TimeInterval {
        settings.change.flatMap { change -> TimeInterval? in
            if case .timestamp(_, let span) = change { return TimeInterval(span.fixedSeconds ?? 0) }
            return nil
        } ?? 300
    }

    /// Where the overlap window of case rows starts, for a newest change `mark`.
    func windowStart(_ mark: Watermark) -> Watermark {
        switch (mark, settings.change) {
        case (.time(let date), .timestamp(_, let overlap)?): return .time(date.addingTimeInterval(-TimeInterval(overlap.fixedSeconds ?? 0)))
        case (.version(let version), .version(_, let overlap)?): return .version(version - overlap)
        default: return mark
        }
    }

    /// Where a poll starts reading case rows, for the newest change seen `mark` and the database's clock before the
    /// previous read.
    func readStart(cases mark: Watermark, clock: Date?) -> ReadStart {
        switch (mark, settings.change) {
        case (.time(let date), .timestamp(_, let overlap)?):
            return Self.readStart(newest: date, overlap: TimeInterval(overlap.fixedSeconds ?? 0), clock: clock)
        default:
            return .from(windowStart(mark))
        }
    }

    /// The newest change seen less the overlap, so that rows committed late with an earlier stamp are read again;
    /// or later, by the database's clock before the previous read. A row stamped an overlap before that clock had
    /// committed by then, and that read (or an earlier one) saw it. Once the clock is past the newest change plus
    /// the overlap, only later rows are read, so a poll of a quiet database reads nothing. Rows stamped after the
    /// newest change are read whatever the clocks say.
    static func readStart(newest: Date, overlap: TimeInterval, clock: Date?) -> ReadStart {
        let start = newest.addingTimeInterval(-overlap)
        guard let settled = clock?.addingTimeInterval(-overlap), settled > start else { return .from(.time(start)) }
        return settled <= newest ? .from(.time(settled)) : .after(.time(newest))
    }

    static func identity(_ caseID: String, _ item: Activity) -> Int {
        var hasher = Hasher()
        hasher.combine(caseID)
        hasher.combine(item)
        return hasher.finalize()
    }

    func readChanged(since cursor: SourceCursor, asOf: Date?, stream: Stream) async throws -> SourceBatch {
        var rowsRead = 0
        func fetch(_ sql: String, _ binds: [SourceValue]) async throws -> [RowMapper.Row] {
            let rows = try await Self.collect(stream, sql, binds)
            rowsRead += rows.count
            return rows
        }
        guard settings.change != nil, let mark = cursor.cases else { return try await readAll(asOf: asOf, stream: stream) }
        // As-of reads replay history: every read is a fresh look, so nothing is skipped.
        let seen = asOf == nil ? cursor.recent : nil
        let clock = asOf == nil ? cursor.clock : nil
        let (sql, binds) = queries.cases(changedSince: readStart(cases: mark, clock: clock), asOf: asOf)
        let (assembled, caseHashes) = assemble(caseRows: try await fetch(sql, binds), isComplete: false)
        var batch = assembled
        batch.cursor.cases = [batch.cursor.cases, mark].compactMap { $0 }.max()
        var recent = RecentRows()
        let caseWindow = batch.cursor.cases.map(windowStart)
        var same: Set<String> = []
        for (id, rowMark, hash) in caseHashes {
            if caseWindow.map({ rowMark >= $0 }) ?? true { recent.cases[id] = hash }
            if let seen, seen.cases[id] == hash { same.insert(id) }
        }
        // Rows read again as they were are set aside: read in full only if they turn out to have new activity.
        var unchanged: [String: Case] = [:]
        if !same.isEmpty {
            var changed: [Case] = []
            for subject in batch.cases {
                if same.contains(subject.id) { unchanged[subject.id] = subject } else { changed.append(subject) }
            }
            batch.cases = changed
        }

        // Cases whose activity changed although their row did not: an activity row not seen in the window before.
        var newestActivity = cursor.activity
        if let since = cursor.activity,
            let (activitySQL, activityBinds) = queries.activity(since: Self.readStart(newest: since, overlap: activityOverlap, clock: clock)) {
            var known = Set(batch.cases.map(\.id))
            var extra: [String] = []
            for (position, row) in try await fetch(activitySQL, activityBinds).enumerated() {
                let (caseID, item, _) = mapper.mapActivity(row, position: position)
                guard let caseID else { continue }
                var isNew = true
                if let item {
                    let identity = Self.identity(caseID, item)
                    recent.activity.insert(identity)
                    isNew = !(seen?.activity.contains(identity) ?? false)
                    if newestActivity.map({ item.at > $0 }) ?? true { newestActivity = item.at }
                }
                if isNew && known.insert(caseID).inserted { extra.append(caseID) }
            }
            // A case in the window whose row is unchanged is already read; the others are read by id.
            var byID: [String] = []
            for id in extra {
                if let subject = unchanged.removeValue(forKey: id) { batch.cases.append(subject) } else { byID.append(id) }
            }
            for start in stride(from: 0, to: byID.count, by: Self.chunk) {
                let ids = Array(byID[start..<min(start + Self.chunk, byID.count)])
                let (byIDSQL, byIDBinds) = queries.cases(ids: ids, asOf: asOf)
                let more = assemble(caseRows: try await fetch(byIDSQL, byIDBinds), isComplete: false).batch
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
        batch.cursor.activity = [batch.cursor.activity, newestActivity].compactMap { $0 }.max()
        batch.cursor.recent = asOf == nil ? recent : nil
        batch.rowsRead = rowsRead
        return finish(batch, asOf: asOf)
    }

    func readDirectory(stream: Stream) async throws -> (people: [Person], problems: [SourceProblem])? {
        guard let query = settings.directory else { return nil }
        let mapped = try await Self.collect(stream, query.sql, []).map(mapper.mapPerson)
        return (mapped.compactMap(\.person), mapped.flatMap(\.problems))
    }

    /// Maps case rows; also gives each case's change mark and a hash of its row as mapped, for the overlap window.
    private func assemble(caseRows: [RowMapper.Row], isComplete: Bool) -> (batch: SourceBatch, hashes: [(id: String, mark: Watermark, hash: Int)]) {
        let assembler = CaseAssembler(reader: self)
        for row in caseRows { assembler.add(row) }
        return assembler.result(isComplete: isComplete)
    }

    /// Case rows mapped one at a time, as a driver streams them.
    final class CaseAssembler: @unchecked Sendable {
        let reader: SourceReader
        var cases: [Case] = []
        var problems: [SourceProblem] = []
        var newest: Watermark?
        var seen: Set<String> = []
        var hashes: [(id: String, mark: Watermark, hash: Int)] = []
        var rows = 0
        /// The change column, when `timestamps: utc` asks for its form to be checked.
        let checkedColumn: String?

        init(reader: SourceReader) {
            self.reader = reader
            if reader.settings.timestamps == .utc, case .timestamp(let column, _)? = reader.settings.change {
                checkedColumn = column
            } else {
                checkedColumn = nil
            }
        }

        func add(_ row: RowMapper.Row) {
            rows += 1
            let (subject, rowProblems) = reader.mapper.mapCase(row)
            problems += rowProblems
            guard let subject else { return }
            guard seen.insert(subject.id).inserted else {
                problems.append(SourceProblem(caseID: subject.id, query: "cases", message: "the id appears on more than one row; the first is used", skipped: true))
                return
            }
            cases.append(subject)
            if let column = checkedColumn, let problem = reader.undeclaredForm(row, column: column) {
                problems.append(SourceProblem(caseID: subject.id, query: "cases", message: problem, skipped: false))
            }
            if let mark = reader.watermark(of: row) {
                if newest.map({ mark > $0 }) ?? true { newest = mark }
                hashes.append((subject.id, mark, subject.hashValue))
            }
        }

        /// What was assembled, handed over: the assembler lets go of it (at a million cases, the rows, the ids seen
        /// and the hashes would otherwise stay alive, with the assembler, until the whole read returns).
        func result(isComplete: Bool) -> (batch: SourceBatch, hashes: [(id: String, mark: Watermark, hash: Int)]) {
            defer {
                cases = []
                seen = []
                hashes = []
            }
            return (SourceBatch(cases: cases, problems: problems, cursor: SourceCursor(cases: newest), isComplete: isComplete), hashes)
        }
    }

    /// With `timestamps: utc` declared, why a time value is not in that form (nil if it is, or nothing is declared).
    func undeclaredForm(_ row: RowMapper.Row, column: String) -> String? {
        guard settings.timestamps == .utc else { return nil }
        return Self.undeclaredForm(row[column], column: column)
    }

    /// Why a value of a time column declared UTC text is not in that form; nil when it is, or is not text.
    static func undeclaredForm(_ value: SourceValue?, column: String) -> String? {
        guard case .text(let text)? = value, !isUTCText(text) else { return nil }
        return "\(column) \"\(RowMapper.printable(text))\" is not UTC text ending in Z, as timestamps: utc declares; polls can miss changes to this case until the next full read"
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`: text that sorts in time order.
    static func isUTCText(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { isUTCText($0) }
    }

    private static let utcPattern = Array("0000-00-00T00:00:00".utf8)

    private static func isUTCText(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard bytes.count >= 20, bytes.last == UInt8(ascii: "Z") else { return false }
        for (byte, expected) in zip(bytes, utcPattern) {
            if expected == UInt8(ascii: "0") { guard byte >= 0x30 && byte <= 0x39 else { return false } } else if byte != expected { return false }
        }
        let rest = bytes[19..<(bytes.count - 1)]
        if rest.isEmpty { return true }
        return rest.first == UInt8(ascii: ".") && rest.count > 1 && rest.dropFirst().allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }

    func watermark(of row: RowMapper.Row) -> Watermark? {
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
        let attacher = ActivityAttacher(reader: self, batch: batch)
        for row in rows { attacher.add(row) }
        attacher.finish(&batch)
    }

    /// What both ways of attaching activity do with each row: map it, note its problems, find its case's slot among
    /// the batch's cases, and keep the newest time seen.
    final class ActivityIntake: @unchecked Sendable {
        let reader: SourceReader
        var index: [String: Int] = [:]
        var problems: [SourceProblem] = []
        var newest: Date?
        var position = 0
        /// The activity's time column, when `timestamps: utc` asks for its form to be checked.
        let checkedColumn: String?

        init(reader: SourceReader, batch: SourceBatch) {
            self.reader = reader
            checkedColumn = reader.settings.timestamps == .utc ? reader.settings.activity?.column("at") : nil
            index.reserveCapacity(batch.cases.count)
            for (position, subject) in batch.cases.enumerated() { index[subject.id] = position }
            newest = batch.cursor.activity
        }

        /// A row mapped, with what is wrong with it: all of `take` that reads the row itself. Mapping changes
        /// nothing but the count of rows, so a full read maps stretches of rows on any core.
        struct Mapped: Sendable {
            let caseID: String?
            let item: Activity?
            let problems: [SourceProblem]
            /// Why the time column is not in the declared form, if it is not.
            let form: String?
        }

        /// Maps the row at `position` in the query's result.
        func map(_ row: RowMapper.Row, position: Int) -> Mapped {
            map(row, position: position, mapper: reader.mapper, layout: layout(reader.mapper, row.columns))
        }

        /// Maps a stretch of rows of one read, the first at `first`, on the calling core: with a mapper of the
        /// stretch's own and the columns' positions looked up once, so that the cores mapping at once do not count
        /// references on (nor lock) the same objects for every row.
        func map(_ rows: [RowMapper.Row], first: Int) -> [Mapped] {
            guard let columns = rows.first?.columns else { return [] }
            let mapper = RowMapper(settings: reader.settings)
            let shared = layout(mapper, columns)
            // A copy of the read's list of positions, so that the stretch does not count references on that one.
            let own = Layout(activity: shared.activity.map { $0 }, checked: shared.checked)
            return rows.enumerated().map { offset, row in
                row.columns === columns
                    ? map(row, position: first + offset, mapper: mapper, layout: own) : map(row, position: first + offset)
            }
        }

        /// Where a read's rows hold what mapping an activity row looks at: the activity columns, and the time
        /// column whose form `timestamps: utc` checks (nil when nothing is checked).
        private struct Layout {
            let activity: [Int?]
            let checked: (name: String, position: Int?)?
        }

        private func layout(_ mapper: RowMapper, _ columns: ColumnIndex) -> Layout {
            Layout(activity: mapper.activityPositions(columns), checked: checkedColumn.map { ($0, columns.position(of: $0)) })
        }

        private func map(_ row: RowMapper.Row, position: Int, mapper: RowMapper, layout: Layout) -> Mapped {
            let (caseID, item, rowProblems) = mapper.mapActivity(row, position: position, at: layout.activity)
            let form = caseID != nil && item != nil
                ? layout.checked.flatMap { SourceReader.undeclaredForm(row[$0.position], column: $0.name) } : nil
            return Mapped(caseID: caseID, item: item, problems: rowProblems, form: form)
        }

        /// The row's case slot and activity; nil for a row that maps to no case of the batch.
        func take(_ row: RowMapper.Row) -> (slot: Int, item: Activity)? {
            position += 1
            return take(map(row, position: position - 1))
        }

        func take(_ mapped: Mapped) -> (slot: Int, item: Activity)? {
            problems += mapped.problems
            guard let caseID = mapped.caseID, let slot = index[caseID], let item = mapped.item else { return nil }
            if let problem = mapped.form {
                problems.append(SourceProblem(caseID: caseID, query: "activity", message: problem, skipped: false))
            }
            if newest.map({ item.at > $0 }) ?? true { newest = item.at }
            return (slot, item)
        }
    }

    /// Activity rows mapped one at a time onto the batch's cases, as a driver streams them.
    final class ActivityAttacher: @unchecked Sendable {
        let intake: ActivityIntake
        var activity: [Int: [Activity]] = [:]
        var position: Int { intake.position }

        init(reader: SourceReader, batch: SourceBatch) {
            intake = ActivityIntake(reader: reader, batch: batch)
        }

        func add(_ row: RowMapper.Row) {
            guard let (slot, item) = intake.take(row) else { return }
            activity[slot, default: []].append(item)
        }

        func finish(_ batch: inout SourceBatch) {
            batch.problems += intake.problems
            // Each case's rows are let go as soon as the case holds its sorted copy.
            for slot in Array(activity.keys) {
                guard let items = activity.removeValue(forKey: slot) else { continue }
                let subject = batch.cases[slot]
                batch.cases[slot] = Case(
                    id: subject.id, kind: subject.kind, status: subject.status, owner: subject.owner, openedAt: subject.openedAt,
                    promisedAt: subject.promisedAt, closedAt: subject.closedAt, attributes: subject.attributes, activity: items)
            }
            batch.cursor.activity = intake.newest
        }
    }

    /// A full read that packs as it goes. The activity query is ordered by case, so a case's rows end where the
    /// next case's begin: the case is then built, seen as of `asOf`, fingerprinted and packed, and its rows let go.
    /// Only the case rows and one case's activity are ever held as structs, where a plain full read holds every
    /// case and row of the database at once. Rows of a case that do not come together (a driver or collation
    /// that groups them differently) are merged into the case packed before.
    ///
    /// The work is shared among the cores. The driver's thread reads the rows and hands them over a stretch at a
    /// time; each stretch is mapped on any core (`ActivityIntake.map`), and a serial queue takes the mapped stretches
    /// onto their cases and packs the cases, in the order they were read (`take`). At most `stretchesAhead`
    /// stretches are in hand, so the driver is held back when the others fall behind rather than the rows piling
    /// up. Nothing of what it decides depends on the split: the same code runs on the same rows in the same order.
    final class PackingAttacher: @unchecked Sendable {
        static let stretch = 2_048
        static let stretchesAhead = 6
        private var unmapped: [RowMapper.Row] = []
        private let packing = DispatchQueue(label: "escalator.full-read.packing")
        private let room = DispatchSemaphore(value: PackingAttacher.stretchesAhead)
        let intake: ActivityIntake
        let reader: SourceReader
        let asOf: Date?
        let shelf: Shelf?
        /// The case rows by slot, without activity.
        var rows: [Case]
        var packed: [(subject: PackedCase, fingerprint: Int)?]
        var current: (slot: Int, items: [Activity])?
        var position: Int { intake.position }
        /// Activity that may be in the overlap window, with its time: kept against the newest time seen so far, and
        /// narrowed to the newest of all at the end.
        var candidates: [(at: Date, identity: Int)] = []

        init(reader: SourceReader, batch: SourceBatch, asOf: Date?, shelf: Shelf?) {
            intake = ActivityIntake(reader: reader, batch: batch)
            self.reader = reader
            self.asOf = asOf
            self.shelf = shelf
            rows = batch.cases
            packed = Array(repeating: nil, count: rows.count)
        }

        /// On the driver's thread: keeps the row, and hands over a full stretch.
        func add(_ row: RowMapper.Row) {
            if unmapped.isEmpty { unmapped.reserveCapacity(Self.stretch) }
            unmapped.append(row)
            if unmapped.count >= Self.stretch { handOver() }
        }

        /// A stretch's mapped rows, written by the core that maps it and read by the packing queue after it.
        private final class Stretch: @unchecked Sendable {
            var mapped: [ActivityIntake.Mapped] = []
            let done = DispatchSemaphore(value: 0)
        }

        private func handOver() {
            guard !unmapped.isEmpty else { return }
            let rows = unmapped
            unmapped = []
            let first = intake.position
            intake.position += rows.count
            room.wait()
            let stretch = Stretch()
            DispatchQueue.global().async { [intake] in
                stretch.mapped = intake.map(rows, first: first)
                stretch.done.signal()
            }
            packing.async {
                stretch.done.wait()
                for row in stretch.mapped { self.take(row) }
                self.room.signal()
            }
        }

        /// Hands over what is left and waits until every row has been taken.
        func drain() {
            handOver()
            packing.sync {}
        }

        /// On the packing queue.
        private func take(_ row: ActivityIntake.Mapped) {
            guard let (slot, item) = intake.take(row) else { return }
            if current?.slot != slot {
                close()
                current = (slot, [])
            }
            current!.items.append(item)
        }

        /// Packs the case whose rows just ended.
        private func close() {
            guard let (slot, items) = current else { return }
            current = nil
            pack(slot, items + (packed[slot]?.subject.unpacked().activity ?? []))
        }

        private func pack(_ slot: Int, _ items: [Activity]) {
            let row = rows[slot]
            let whole = Case(
                id: row.id, kind: row.kind, status: row.status, owner: row.owner, openedAt: row.openedAt, promisedAt: row.promisedAt,
                closedAt: row.closedAt, attributes: row.attributes, activity: items)
            let start = intake.newest.map { $0.addingTimeInterval(-reader.activityOverlap) } ?? .distantPast
            for item in whole.activity where item.at >= start { candidates.append((item.at, SourceReader.identity(whole.id, item))) }
            // As-of reads see each case as it stood then; a case not yet opened is left out (its slot stays empty).
            let seen: Case?
            if let asOf { seen = whole.asOf(asOf) } else { seen = whole }
            guard let seen else { return }
            let subject = PackedCase(seen)
            packed[slot] = (shelf.map { subject.shelved(on: $0) } ?? subject, seen.hashValue)
        }

        func finish(_ batch: inout SourceBatch, window: inout RecentRows) {
            drain()
            close()
            // The cases that have no activity.
            for slot in rows.indices where packed[slot] == nil { pack(slot, []) }
            // The rows and the index by id are let go before the list is made: at a million cases they are most of
            // what a full read holds at its peak.
            rows = []
            intake.index = [:]
            batch.packed = packed.compactMap { $0 }
            packed = []
            batch.problems += intake.problems
            batch.cursor.activity = intake.newest
            if let newest = intake.newest {
                let start = newest.addingTimeInterval(-reader.activityOverlap)
                for candidate in candidates where candidate.at >= start { window.activity.insert(candidate.identity) }
            }
        }
    }

    private func finish(_ batch: SourceBatch, asOf: Date?) -> SourceBatch {
        guard let asOf else { return batch }
        var sliced = batch
        sliced.cases = batch.cases.compactMap { $0.asOf(asOf) }
        return sliced
    }
}
