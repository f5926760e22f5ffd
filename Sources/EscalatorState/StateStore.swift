import EscalatorCore
import Foundation
import GRDB

/// The daemon's durable state: every case × policy occurrence (breach time, steps taken, who was notified),
/// acknowledgements, each case's next deadline, and the outbox of notices still to be delivered.
///
/// SQLite in WAL mode, so readers (`escalator status`) never block the daemon and the daemon never blocks them.
/// Recording the steps of a tick and queueing their notices happen in one transaction: after a crash either
/// both are there or neither is.
public final class StateStore: Sendable {
    public static let fileName = "state.db"

    public let path: String
    let pool: DatabasePool

    /// Opens (creating and migrating if needed) the store in `directory`. Read-only opens never migrate.
    public init(directory: String, readOnly: Bool = false) throws {
        path = "\(directory)/\(Self.fileName)"
        if readOnly && !FileManager.default.fileExists(atPath: path) {
            throw StateError("no state store at \(path): has `escalator run` used this state directory yet?")
        }
        if !readOnly {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        }
        var configuration = Configuration()
        configuration.readonly = readOnly
        configuration.busyMode = .timeout(5)
        configuration.label = "escalator-state"
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            if !readOnly {
                try Self.migrator.migrate(pool)
            } else {
                let known = try pool.read { try Self.migrator.appliedIdentifiers($0) }
                let missing = Set(Self.migrator.migrations).subtracting(known)
                if !missing.isEmpty {
                    throw StateError("the state store at \(path) predates this version of escalator; start `escalator run` once to upgrade it")
                }
            }
        } catch let error as StateError {
            throw error
        } catch {
            throw StateError("cannot open the state store at \(path): \(error)")
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE occurrence (
                        case_id TEXT NOT NULL,
                        policy TEXT NOT NULL,
                        clock TEXT NOT NULL,
                        ordinal INTEGER NOT NULL,
                        subject TEXT,
                        started_at REAL NOT NULL,
                        breach_at REAL,
                        cleared_at REAL,
                        notified TEXT NOT NULL,
                        steps TEXT NOT NULL,
                        PRIMARY KEY (case_id, policy, clock, ordinal)
                    ) WITHOUT ROWID;
                    CREATE INDEX occurrence_open ON occurrence (policy, breach_at) WHERE cleared_at IS NULL;
                    CREATE TABLE acknowledgement (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        case_id TEXT NOT NULL,
                        policy TEXT,
                        by TEXT NOT NULL,
                        at REAL NOT NULL,
                        until REAL NOT NULL,
                        note TEXT,
                        revoked_at REAL,
                        revoked_by TEXT,
                        version INTEGER NOT NULL
                    );
                    CREATE INDEX acknowledgement_case ON acknowledgement (case_id);
                    CREATE INDEX acknowledgement_version ON acknowledgement (version);
                    CREATE TABLE deadline (
                        case_id TEXT PRIMARY KEY,
                        due REAL NOT NULL
                    ) WITHOUT ROWID;
                    CREATE INDEX deadline_due ON deadline (due);
                    CREATE TABLE outbox (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        notice_id TEXT NOT NULL UNIQUE,
                        case_id TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        notice TEXT NOT NULL,
                        email TEXT,
                        spool_name TEXT,
                        journal_done INTEGER NOT NULL DEFAULT 0,
                        email_done INTEGER NOT NULL DEFAULT 0,
                        delivered_at REAL,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        last_error TEXT
                    );
                    CREATE INDEX outbox_pending ON outbox (seq) WHERE delivered_at IS NULL;
                    CREATE TABLE meta (
                        key TEXT PRIMARY KEY,
                        value TEXT NOT NULL
                    ) WITHOUT ROWID;
                    """)
        }
        return migrator
    }

    // MARK: - Escalation state

    public func occurrences(after: String?, limit: Int) throws -> [(caseID: String, occurrences: [EscalationState.Occurrence])] {
        try pool.read { db in
            let page = after == nil ? "" : "WHERE case_id > ?"
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT case_id, \(Self.occurrenceColumns) FROM occurrence
                    WHERE case_id IN (SELECT DISTINCT case_id FROM occurrence \(page) ORDER BY case_id LIMIT \(limit))
                    ORDER BY case_id, started_at, policy, clock, ordinal
                    """, arguments: StatementArguments(after.map { [$0] } ?? []))
            var out: [(caseID: String, occurrences: [EscalationState.Occurrence])] = []
            while let row = try rows.next() {
                let id: String = row[0]
                if out.last?.caseID != id { out.append((id, [])) }
                out[out.count - 1].occurrences.append(try Self.occurrence(row, from: 1))
            }
            return out
        }
    }

    public func acknowledgementsInForce() throws -> [(caseID: String, acknowledgement: Acknowledgement)] {
        try pool.read { db in
            try Self.acknowledgements(db, sql: "WHERE revoked_at IS NULL ORDER BY id", arguments: []).map { ($0.caseID, $0.acknowledgement) }
        }
    }

    static let occurrenceColumns = "policy, clock, ordinal, subject, started_at, breach_at, cleared_at, notified, steps"

    /// An occurrence from `occurrenceColumns`, starting at column `first`.
    static func occurrence(_ row: Row, from first: Int) throws -> EscalationState.Occurrence {
        EscalationState.Occurrence(
            policy: row[first], clock: row[first + 1], ordinal: row[first + 2], subject: row[first + 3],
            startedAt: Date(timeIntervalSince1970: row[first + 4]), breachAt: (row[first + 5] as Double?).map(Date.init(timeIntervalSince1970:)),
            taken: try decode([EscalationState.TakenStep].self, row[first + 8]), notified: try decode([String].self, row[first + 7]),
            clearedAt: (row[first + 6] as Double?).map(Date.init(timeIntervalSince1970:)))
    }

    /// One case's escalation state as recorded, or nil if the store has none for it.
    public func state(caseID: String) throws -> EscalationState? {
        try pool.read { db in
            let occurrences = try Row.fetchAll(
                db, sql: "SELECT \(Self.occurrenceColumns) FROM occurrence WHERE case_id = ? ORDER BY started_at, policy, clock, ordinal", arguments: [caseID]
            ).map { try Self.occurrence($0, from: 0) }
            let acks = try Self.acknowledgements(db, sql: "WHERE case_id = ? AND revoked_at IS NULL ORDER BY id", arguments: [caseID]).map(\.acknowledgement)
            return occurrences.isEmpty && acks.isEmpty ? nil : EscalationState(occurrences: occurrences, acknowledgements: acks)
        }
    }

    /// What one tick changed: states to record, deadlines to set (nil removes), notices to queue, meta to set.
    public struct Commit: Sendable {
        public var states: [(caseID: String, state: EscalationState)] = []
        public var deadlines: [(caseID: String, due: Date?)] = []
        public var notices: [QueuedNotice] = []
        public var meta: [String: String] = [:]

        public init() {}

        public var isEmpty: Bool { states.isEmpty && deadlines.isEmpty && notices.isEmpty && meta.isEmpty }
    }

    /// A notice to deliver, with its email already rendered (nil when nobody has an address).
    public struct QueuedNotice: Sendable {
        public let notice: Notice
        public let email: String?
        public let spoolName: String?

        public init(notice: Notice, email: String?, spoolName: String?) {
            self.notice = notice
            self.email = email
            self.spoolName = spoolName
        }
    }

    /// Records a tick in one transaction. A notice already in the outbox (same id) is not queued again.
    /// Returns how many notices were queued.
    @discardableResult
    public func commit(_ commit: Commit, at now: Date) throws -> Int {
        try pool.write { db in
            for (caseID, state) in commit.states {
                try db.execute(sql: "DELETE FROM occurrence WHERE case_id = ?", arguments: [caseID])
                for occurrence in state.occurrences {
                    try db.execute(
                        sql: """
                            INSERT INTO occurrence (case_id, policy, clock, ordinal, subject, started_at, breach_at, cleared_at, notified, steps)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [
                            caseID, occurrence.policy, occurrence.clock, occurrence.ordinal, occurrence.subject,
                            occurrence.startedAt.timeIntervalSince1970, occurrence.breachAt?.timeIntervalSince1970,
                            occurrence.clearedAt?.timeIntervalSince1970, try Self.encode(occurrence.notified), try Self.encode(occurrence.taken),
                        ])
                }
            }
            for (caseID, due) in commit.deadlines {
                if let due {
                    try db.execute(sql: "INSERT INTO deadline (case_id, due) VALUES (?, ?) ON CONFLICT(case_id) DO UPDATE SET due = excluded.due", arguments: [caseID, due.timeIntervalSince1970])
                } else {
                    try db.execute(sql: "DELETE FROM deadline WHERE case_id = ?", arguments: [caseID])
                }
            }
            var queued = 0
            for item in commit.notices {
                try db.execute(
                    sql: """
                        INSERT INTO outbox (notice_id, case_id, created_at, notice, email, spool_name, email_done)
                        VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(notice_id) DO NOTHING
                        """,
                    arguments: [
                        item.notice.id, item.notice.caseID, now.timeIntervalSince1970, try Self.encode(item.notice), item.email,
                        item.spoolName, item.email == nil ? 1 : 0,
                    ])
                queued += db.changesCount
            }
            for (key, value) in commit.meta {
                try db.execute(sql: "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", arguments: [key, value])
            }
            return queued
        }
    }

    // MARK: - Outbox

    /// A queued notice and what of it has been delivered.
    public struct OutboxItem: Sendable {
        public let seq: Int64
        public let notice: Notice
        public let email: String?
        public let spoolName: String?
        public let journalDone: Bool
        public let emailDone: Bool
        public let attempts: Int
    }

    /// Undelivered notices, oldest first.
    public func pendingOutbox(limit: Int = 500) throws -> [OutboxItem] {
        try pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT seq, notice, email, spool_name, journal_done, email_done, attempts FROM outbox WHERE delivered_at IS NULL ORDER BY seq LIMIT ?",
                arguments: [limit]
            ).map { row in
                OutboxItem(
                    seq: row[0], notice: try Self.decode(Notice.self, row[1]), email: row[2], spoolName: row[3],
                    journalDone: row[4], emailDone: row[5], attempts: row[6])
            }
        }
    }

    /// Records, in one transaction, which parts of which items were delivered, and errors for the others.
    public func markDelivered(journal: [Int64], email: [Int64], failed: [(seq: Int64, error: String)], at now: Date) throws {
        try pool.write { db in
            for seq in journal { try db.execute(sql: "UPDATE outbox SET journal_done = 1 WHERE seq = ?", arguments: [seq]) }
            for seq in email { try db.execute(sql: "UPDATE outbox SET email_done = 1 WHERE seq = ?", arguments: [seq]) }
            for (seq, error) in failed {
                try db.execute(sql: "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?", arguments: [error, seq])
            }
            try db.execute(
                sql: "UPDATE outbox SET delivered_at = ? WHERE delivered_at IS NULL AND journal_done = 1 AND email_done = 1",
                arguments: [now.timeIntervalSince1970])
        }
    }

    /// Notices queued and not yet delivered.
    public func outboxDepth() throws -> Int {
        try pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM outbox WHERE delivered_at IS NULL") ?? 0 }
    }

    /// Forgets delivered outbox rows older than `age`; the spool and the journal keep the record.
    @discardableResult
    public func pruneDelivered(olderThan cutoff: Date) throws -> Int {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?", arguments: [cutoff.timeIntervalSince1970])
            return db.changesCount
        }
    }

    /// Every notice ever queued and still remembered, in queue order (for tests and audits).
    public func queuedNoticeIDs() throws -> [String] {
        try pool.read { try String.fetchAll($0, sql: "SELECT notice_id FROM outbox ORDER BY seq") }
    }

    // MARK: - Acknowledgements

    /// An acknowledgement as stored, with its revocation if any.
    public struct AckRecord: Sendable {
        public let id: Int64
        public let caseID: String
        public let acknowledgement: Acknowledgement
        public let revokedAt: Date?
        public let revokedBy: String?
        public let version: Int64
    }

    /// Records an acknowledgement; the daemon applies it on its next tick.
    @discardableResult
    public func acknowledge(caseID: String, _ acknowledgement: Acknowledgement) throws -> AckRecord {
        try pool.write { db in
            let version = try Self.nextVersion(db)
            try db.execute(
                sql: "INSERT INTO acknowledgement (case_id, policy, by, at, until, note, version) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [
                    caseID, acknowledgement.policy, acknowledgement.by, acknowledgement.at.timeIntervalSince1970,
                    acknowledgement.until.timeIntervalSince1970, acknowledgement.note, version,
                ])
            return AckRecord(id: db.lastInsertedRowID, caseID: caseID, acknowledgement: acknowledgement, revokedAt: nil, revokedBy: nil, version: version)
        }
    }

    /// Revokes the case's acknowledgements in force (for one policy, or all); returns those revoked.
    public func revoke(caseID: String, policy: String?, by: String, at now: Date) throws -> [AckRecord] {
        try pool.write { db in
            let current = try Self.acknowledgements(
                db, sql: "WHERE case_id = ? AND revoked_at IS NULL AND until > ?", arguments: [caseID, now.timeIntervalSince1970]
            ).filter { policy == nil || $0.acknowledgement.policy == policy }
            guard !current.isEmpty else { return [] }
            let version = try Self.nextVersion(db)
            for record in current {
                try db.execute(
                    sql: "UPDATE acknowledgement SET revoked_at = ?, revoked_by = ?, version = ? WHERE id = ?",
                    arguments: [now.timeIntervalSince1970, by, version, record.id])
            }
            return current
        }
    }

    /// Acknowledgement rows changed after `version` (new or revoked), and the highest version seen.
    public func acknowledgementChanges(after version: Int64) throws -> (changed: [AckRecord], version: Int64) {
        try pool.read { db in
            let records = try Self.acknowledgements(db, sql: "WHERE version > ? ORDER BY version", arguments: [version])
            return (records, records.map(\.version).max() ?? version)
        }
    }

    /// The acknowledgements not revoked for a case.
    public func acknowledgements(caseID: String) throws -> [Acknowledgement] {
        try pool.read { db in
            try Self.acknowledgements(db, sql: "WHERE case_id = ? AND revoked_at IS NULL ORDER BY id", arguments: [caseID]).map(\.acknowledgement)
        }
    }

    public func acknowledgementVersion() throws -> Int64 {
        try pool.read { try Int64.fetchOne($0, sql: "SELECT coalesce(max(version), 0) FROM acknowledgement") ?? 0 }
    }

    static func nextVersion(_ db: Database) throws -> Int64 {
        (try Int64.fetchOne(db, sql: "SELECT coalesce(max(version), 0) + 1 FROM acknowledgement")) ?? 1
    }

    static func acknowledgements(_ db: Database, sql: String, arguments: StatementArguments) throws -> [AckRecord] {
        try Row.fetchAll(db, sql: "SELECT id, case_id, policy, by, at, until, note, revoked_at, revoked_by, version FROM acknowledgement " + sql, arguments: arguments).map { row in
            AckRecord(
                id: row[0], caseID: row[1],
                acknowledgement: Acknowledgement(
                    policy: row[2], by: row[3], at: Date(timeIntervalSince1970: row[4]), until: Date(timeIntervalSince1970: row[5]), note: row[6]),
                revokedAt: (row[7] as Double?).map(Date.init(timeIntervalSince1970:)), revokedBy: row[8], version: row[9])
        }
    }

    // MARK: - Status

    /// Open occurrences per policy, and how many of them are past their breach at `now`.
    public struct PolicyCount: Sendable, Codable, Equatable {
        public let policy: String
        public let open: Int
        public let breached: Int
    }

    public func openOccurrences(now: Date) throws -> [PolicyCount] {
        try pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT policy, count(*), coalesce(sum(breach_at IS NOT NULL AND breach_at <= ?), 0)
                    FROM occurrence WHERE cleared_at IS NULL GROUP BY policy ORDER BY policy
                    """, arguments: [now.timeIntervalSince1970]
            ).map { PolicyCount(policy: $0[0], open: $0[1], breached: $0[2]) }
        }
    }

    /// The earliest next deadlines, one per case.
    public func nextDeadlines(limit: Int) throws -> [(caseID: String, due: Date)] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT case_id, due FROM deadline ORDER BY due, case_id LIMIT ?", arguments: [limit]).map {
                ($0[0] as String, Date(timeIntervalSince1970: $0[1] as Double))
            }
        }
    }

    /// Undelivered notices that have failed at least once, with their last error.
    public func failingOutbox(limit: Int) throws -> [(noticeID: String, attempts: Int, error: String)] {
        try pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT notice_id, attempts, coalesce(last_error, '') FROM outbox WHERE delivered_at IS NULL AND attempts > 0 ORDER BY seq LIMIT ?",
                arguments: [limit]
            ).map { ($0[0] as String, $0[1] as Int, $0[2] as String) }
        }
    }

    /// After a write by another user (root running `escalator ack`), gives any file it created in the state
    /// directory back to the directory's owner, so the daemon's user can still open them.
    public func matchDirectoryOwnership() {
        guard getuid() == 0 else { return }
        let directory = (path as NSString).deletingLastPathComponent
        var info = stat()
        guard stat(directory, &info) == 0 else { return }
        for suffix in ["", "-wal", "-shm"] {
            var file = stat()
            if stat(path + suffix, &file) == 0, file.st_uid != info.st_uid || file.st_gid != info.st_gid {
                chown(path + suffix, info.st_uid, info.st_gid)
            }
        }
    }

    // MARK: - Meta

    public func meta() throws -> [String: String] {
        try pool.read { db in
            Dictionary(try Row.fetchAll(db, sql: "SELECT key, value FROM meta").map { ($0[0] as String, $0[1] as String) }, uniquingKeysWith: { $1 })
        }
    }

    // MARK: - Encoding

    static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return try decoder.decode(type, from: Data(text.utf8))
    }
}

/// A state store problem, said plainly.
public struct StateError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
