import EscalatorConfig
import EscalatorCore
import Foundation

/// A problem with one source row, reported once per case (not on every poll).
public struct SourceProblem: Sendable, Hashable, CustomStringConvertible {
    /// The case it concerns, made printable; nil when the row has no usable id.
    public let caseID: String?
    /// Which query the row came from: "cases", "activity" or "directory".
    public let query: String
    public let message: String
    /// True if the row was dropped; false if it was used with the bad value left out or cut.
    public let skipped: Bool

    public var description: String {
        let subject = caseID.map { "case \($0)" } ?? "a row"
        return "\(query): \(subject): \(message)\(skipped ? " (row skipped)" : "")"
    }
}

/// Why a value of a row cannot be used.
public struct RowError: Error, Sendable {
    public let message: String
    init(_ message: String) { self.message = message }
}

/// The column names of one read, shared by all of its rows, and the positions of the columns a mapping reads,
/// worked out once per read rather than looked up by name in every row.
final class ColumnIndex: @unchecked Sendable {
    /// Which mapping a set of positions is for.
    enum Layout { case cases, activity, directory }

    private let byName: [String: Int]
    private let lock = NSLock()
    private var resolved: [Layout: [Int?]] = [:]

    init(_ names: [String]) {
        var byName: [String: Int] = [:]
        // Of two columns with the same name, the last one is read.
        for (position, name) in names.enumerated() { byName[name] = position }
        self.byName = byName
    }

    func position(of name: String) -> Int? { byName[name] }

    /// The positions of `columns` (nil where the read has no such column), computed on first use for `layout`.
    func positions(_ layout: Layout, _ columns: @autoclosure () -> [String]) -> [Int?] {
        lock.lock()
        defer { lock.unlock() }
        if let known = resolved[layout] { return known }
        let found = columns().map { byName[$0] }
        resolved[layout] = found
        return found
    }
}

/// One source row: its values by column position, with the read's column names.
struct SourceRow: Sendable {
    let columns: ColumnIndex
    let values: [SourceValue]

    subscript(name: String) -> SourceValue? { columns.position(of: name).map { values[$0] } }
    subscript(position: Int?) -> SourceValue? { position.map { values[$0] } }
}

/// Turns source rows into cases, activity and people, following the configured mapping.
///
/// Hostile data never gets through as is: ids must be short and plain, text is cut to a bounded length, control
/// characters are replaced, and timestamps must parse and fall between 1970 and 3000.
/// A class, not a struct: the readers call it for every row, and copying its settings each time cost retains.
public final class RowMapper: Sendable {
    typealias Row = SourceRow

    /// Which columns each kind of row is read from, in a fixed order the map functions index by.
    private let caseColumns: [String]
    private let activityColumns: [String]
    private let personColumns: [String]

    public static let maxIDLength = 200
    public static let maxNameLength = 200
    public static let maxTextLength = 4096

    let settings: SourceSettings
    let timestamps: TimestampParser

    public init(settings: SourceSettings) {
        self.settings = settings
        self.timestamps = TimestampParser(timeZone: settings.timeZone)
        caseColumns = SourceSettings.caseFields.map(settings.cases.column) + settings.attributes
        activityColumns = settings.activity.map { query in SourceSettings.activityFields.map(query.column) } ?? []
        personColumns = settings.directory.map { query in SourceSettings.directoryFields.map(query.column) } ?? []
    }

    /// A printable, bounded rendering of a raw value for diagnostics.
    static func printable(_ text: String) -> String {
        let cleaned = String(text.unicodeScalars.prefix(60).map { $0.properties.generalCategory == .control ? "?" : Character($0) })
        return text.unicodeScalars.count > 60 ? cleaned + "…" : cleaned
    }

    /// Checks an id: present, at most 200 characters, no `/`, no control characters, no surrounding spaces.
    static func validID(_ value: SourceValue?) -> Result<String, RowError> {
        guard let value, let text = value.text else { return .failure(RowError("the id is missing")) }
        if text.isEmpty { return .failure(RowError("the id is empty")) }
        // Plain ASCII without '/' and not starting or ending with a space: no per-character checks needed.
        if text.utf8.count <= maxIDLength, text.isPrintableASCII(), text.utf8.first != 0x20, text.utf8.last != 0x20,
            !text.utf8.contains(0x2F)
        {
            return .success(text)
        }
        if text.unicodeScalars.count > maxIDLength { return .failure(RowError("the id is longer than \(maxIDLength) characters")) }
        if text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return .failure(RowError("the id \"\(printable(text))\" contains a control character"))
        }
        if text.contains("/") { return .failure(RowError("the id \"\(printable(text))\" contains '/', which ids may not (they name files and mail threads)")) }
        if text.trimmedOfWhitespace != text { return .failure(RowError("the id \"\(printable(text))\" has surrounding spaces")) }
        return .success(text)
    }

    /// Bounded, control-free text; notes a problem if it had to change anything.
    static func cleanText(_ value: SourceValue?, field: String, limit: Int, problems: inout [String]) -> String? {
        guard let value, !value.isNull else { return nil }
        guard var text = value.text else {
            problems.append("\(field) is binary data; left out")
            return nil
        }
        if text.utf8.count <= limit, text.isPrintableASCII(allowingTab: true) { return text }
        if text.unicodeScalars.count > limit {
            problems.append("\(field) is \(text.utf8.count) bytes long; cut to \(limit) characters")
            text = String(String.UnicodeScalarView(text.unicodeScalars.prefix(limit)))
        }
        if text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control && $0 != "\t" }) {
            problems.append("\(field) contains control characters; replaced")
            text = String(String.UnicodeScalarView(text.unicodeScalars.map {
                $0.properties.generalCategory == .control && $0 != "\t" ? " " : $0
            }))
        }
        if text.unicodeScalars.contains("\u{FFFD}") { problems.append("\(field) is not valid UTF-8; repaired") }
        return text
    }

    func date(_ value: SourceValue?, _ field: String, problems: inout [String]) -> Date?? {
        switch timestamps.parse(value ?? .null) {
        case .success(let date): return .some(date)
        case .failure(.unparsable(let text)): problems.append("\(field) \"\(Self.printable(text))\" is not a timestamp")
        case .failure(.outOfRange(let text)): problems.append("\(field) \(text) is out of range (1970 to 3000)")
        case .failure(.wrongType(let what)): problems.append("\(field) is \(what), not a timestamp")
        }
        return .none
    }

    /// A case row; nil when the row cannot be used. Activity is attached by the caller.
    func mapCase(_ row: Row) -> (subject: Case?, problems: [SourceProblem]) {
        // caseFields order: id, kind, status, owner, opened_at, promised_at, closed_at; then the attributes.
        let at = row.columns.positions(.cases, caseColumns)
        let id: String
        switch Self.validID(row[at[0]]) {
        case .success(let valid): id = valid
        case .failure(let error):
            let message = error.message
            return (nil, [SourceProblem(caseID: row[at[0]]?.text.map(Self.printable), query: "cases", message: message, skipped: true)])
        }
        var notes: [String] = []
        let opened = date(row[at[4]], "opened_at", problems: &notes)
        guard case .some(.some(let openedAt)) = opened else {
            if case .some(.none) = opened { notes.append("opened_at is missing") }
            return (nil, notes.map { SourceProblem(caseID: id, query: "cases", message: $0, skipped: true) })
        }
        var attributes: [String: String] = [:]
        for (offset, name) in settings.attributes.enumerated() {
            if let text = Self.cleanText(row[at[7 + offset]], field: name, limit: Self.maxTextLength, problems: &notes) { attributes[name] = text }
        }
        let subject = Case(
            id: id,
            kind: Self.cleanText(row[at[1]], field: "kind", limit: Self.maxNameLength, problems: &notes),
            status: Self.cleanText(row[at[2]], field: "status", limit: Self.maxNameLength, problems: &notes),
            owner: Self.cleanText(row[at[3]], field: "owner", limit: Self.maxNameLength, problems: &notes),
            openedAt: openedAt,
            promisedAt: date(row[at[5]], "promised_at", problems: &notes) ?? nil,
            closedAt: date(row[at[6]], "closed_at", problems: &notes) ?? nil,
            attributes: attributes)
        return (subject, notes.map { SourceProblem(caseID: id, query: "cases", message: $0, skipped: false) })
    }

    /// An activity row: its case id and the activity; nil activity when the row cannot be used.
    func mapActivity(_ row: Row, position: Int) -> (caseID: String?, activity: Activity?, problems: [SourceProblem]) {
        mapActivity(row, position: position, at: activityPositions(row.columns))
    }

    /// Where the activity columns lie in a read's rows: worked out once per read (`ColumnIndex`).
    func activityPositions(_ columns: ColumnIndex) -> [Int?] { columns.positions(.activity, activityColumns) }

    /// The same, with the columns' positions given: a stretch of rows mapped on one core looks them up once.
    func mapActivity(_ row: Row, position: Int, at: [Int?]) -> (caseID: String?, activity: Activity?, problems: [SourceProblem]) {
        guard settings.activity != nil else { return (nil, nil, []) }
        // activityFields order: id, case, kind, at, actor, text, tag, status, person, due, quantity, ref, kept_by.
        let caseID: String
        switch Self.validID(row[at[1]]) {
        case .success(let valid): caseID = valid
        case .failure(let error):
            let message = error.message
            return (nil, nil, [SourceProblem(caseID: row[at[1]]?.text.map(Self.printable), query: "activity", message: "case reference: \(message)", skipped: true)])
        }
        var notes: [String] = []
        func problems(skipped: Bool) -> [SourceProblem] {
            notes.map { SourceProblem(caseID: caseID, query: "activity", message: $0, skipped: skipped) }
        }
        guard let kindText = row[at[2]]?.text else {
            notes.append("activity kind is missing")
            return (caseID, nil, problems(skipped: true))
        }
        guard let kind = settings.kindNames[kindText] ?? Activity.Kind(rawValue: kindText) else {
            notes.append("unknown activity kind \"\(Self.printable(kindText))\" (map it under source.activity.kinds)")
            return (caseID, nil, problems(skipped: true))
        }
        let when = date(row[at[3]], "at", problems: &notes)
        guard case .some(.some(let time)) = when else {
            if case .some(.none) = when { notes.append("activity time is missing") }
            return (caseID, nil, problems(skipped: true))
        }
        let id: String
        switch Self.validID(row[at[0]]) {
        case .success(let valid): id = valid
        case .failure:
            // Without a usable id the activity still counts; it gets one from its content, stable across polls.
            id = "row-\(caseID.count)-\(kind.rawValue)-\(Int64(time.timeIntervalSince1970))-\(position)"
        }
        var quantity: Int?
        if let value = row[at[10]], !value.isNull {
            if case .integer(let number) = value, let small = Int(exactly: number), small >= 0 { quantity = small }
            else if let text = value.text, let number = Int(text), number >= 0 { quantity = number }
            else { notes.append("quantity \"\(Self.printable(value.text ?? "?"))\" is not a whole number; left out") }
        }
        var keptBy: Activity.Kind?
        if let text = row[at[12]]?.text, !text.isEmpty {
            keptBy = settings.kindNames[text] ?? Activity.Kind(rawValue: text)
            if keptBy == nil { notes.append("kept_by \"\(Self.printable(text))\" is not an activity kind; left out") }
        }
        let activity = Activity(
            id: id, kind: kind, at: time,
            actor: Self.cleanText(row[at[4]], field: "actor", limit: Self.maxNameLength, problems: &notes),
            text: Self.cleanText(row[at[5]], field: "text", limit: Self.maxTextLength, problems: &notes),
            tag: Self.cleanText(row[at[6]], field: "tag", limit: Self.maxNameLength, problems: &notes),
            status: Self.cleanText(row[at[7]], field: "status", limit: Self.maxNameLength, problems: &notes),
            person: Self.cleanText(row[at[8]], field: "person", limit: Self.maxNameLength, problems: &notes),
            due: date(row[at[9]], "due", problems: &notes) ?? nil, quantity: quantity,
            ref: Self.cleanText(row[at[11]], field: "ref", limit: Self.maxIDLength, problems: &notes),
            keptBy: keptBy)
        return (caseID, activity, problems(skipped: false))
    }

    /// A directory row; nil when the row cannot be used.
    func mapPerson(_ row: Row) -> (person: Person?, problems: [SourceProblem]) {
        guard settings.directory != nil else { return (nil, []) }
        // directoryFields order: id, name, email, supervisor, calendar.
        let at = row.columns.positions(.directory, personColumns)
        let id: String
        switch Self.validID(row[at[0]]) {
        case .success(let valid): id = valid
        case .failure(let error):
            return (nil, [SourceProblem(caseID: nil, query: "directory", message: "person: \(error.message)", skipped: true)])
        }
        var notes: [String] = []
        let name = Self.cleanText(row[at[1]], field: "name", limit: Self.maxNameLength, problems: &notes) ?? id
        guard let email = row[at[2]]?.text, MailAddress.isValid(email) else {
            let shown = row[at[2]]?.text.map(Self.printable) ?? "(none)"
            return (nil, [SourceProblem(caseID: nil, query: "directory", message: "person \(id): \"\(shown)\" is not an email address", skipped: true)])
        }
        let supervisor = row[at[3]]?.text.flatMap { $0.isEmpty ? nil : $0 }
        let calendar = row[at[4]]?.text.flatMap { $0.isEmpty ? nil : $0 }
        let person = Person(id: id, name: name, email: email, supervisor: supervisor, calendar: calendar)
        return (person, notes.map { SourceProblem(caseID: nil, query: "directory", message: "person \(id): \($0)", skipped: false) })
    }
}
