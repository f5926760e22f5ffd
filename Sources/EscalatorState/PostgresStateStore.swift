import EscalatorConfig
import EscalatorCore
import EscalatorSources
import Foundation
import Logging
import PostgresNIO

/// The escalation state and outbox in PostgreSQL, shared by several instances of which one is active.
///
/// The tables live in a schema named after the cluster (`state.cluster`). The active instance holds a session
/// advisory lock on one connection and does all its reads and writes on that connection, so its writes are fenced:
/// once the server ends that session (the process died, or its host went silent for longer than the TCP keepalives
/// allow) the lock is free for a standby and nothing more the old instance sends can land. The store never
/// reconnects behind the active instance's back; it reports the loss, and the instance exits to rejoin as a standby.
public actor PostgresStateStore: EscalationStore {
    public enum Role: Sendable {
        /// `status`, `ack`, `plan`, `explain`: any connection will do, and a broken one is replaced.
        case tool
        /// `escalator run`: may hold the active lock.
        case instance
    }

    public nonisolated let location: String
    public nonisolated let cluster: String
    private let configuration: PostgresConnection.Configuration
    private let role: Role
    private let logger: Logger
    /// The longest any one call may take before the connection is given up (a silent network would otherwise
    /// hold it for the kernel's retransmission timeout, many minutes).
    private let callTimeout: Duration
    private var connection: PostgresConnection?
    private var holdsLock = false
    private var connectionCount = 0
    /// Calls wait here for the one before to finish: an actor lets a second call in while the first awaits the
    /// server, and on one connection that would put it inside the first one's transaction.
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    /// Which lock the active instance holds: a 64-bit key from the cluster name, computed by the server.
    static let lockKey = "hashtextextended('escalator active instance ' || current_schema(), 0)"

    public init(settings: StateSettings, role: Role, environment: [String: String], logger: Logger) throws {
        guard settings.driver == .postgres, let endpoint = settings.postgres else {
            throw StateError("the state section does not name a PostgreSQL server (driver: postgres)")
        }
        let failover = settings.failoverAfter.fixedSeconds ?? 30
        var parameters = [("search_path", settings.cluster)]
        if role == .instance {
            // The server ends a silent session within about two thirds of failover_after, which frees the lock.
            parameters += [
                ("tcp_keepalives_idle", String(max(1, failover / 3))), ("tcp_keepalives_interval", String(max(1, failover / 9))),
                ("tcp_keepalives_count", "3"), ("tcp_user_timeout", String(failover * 2 / 3 * 1000)),
            ]
        }
        var host = ProcessInfo.processInfo.hostName
        if host.count > 40 { host = String(host.prefix(40)) }
        configuration = try endpoint.connectionConfiguration(
            environment: environment, parameters: parameters, applicationName: "escalator \(host) \(getpid())")
        cluster = settings.cluster
        self.role = role
        self.logger = logger
        callTimeout = .seconds(max(failover, (endpoint.statementTimeout.fixedSeconds ?? 30) + 5))
        let place = endpoint.unixSocket ?? "\(endpoint.host):\(endpoint.port)"
        location = "postgres://\(place)/\(endpoint.database ?? endpoint.user ?? "") (cluster \(settings.cluster))"
    }

    /// The active instance lost the session that held its lock: another instance may be active now.
    public struct LostLock: Error, CustomStringConvertible {
        public let description: String
    }

    // MARK: - Connection

    private func open() async throws -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        if holdsLock {
            throw LostLock(description: "the connection to the shared state store that held the active lock is gone; another instance may be active now")
        }
        connectionCount += 1
        do {
            let connection = try await PostgresConnection.connect(configuration: configuration, id: connectionCount, logger: logger)
            self.connection = connection
            return connection
        } catch {
            throw StateError("cannot reach the shared state store \(location): \(PostgresCaseSource.describe(error))")
        }
    }

    /// Runs `body` on the connection, giving the connection up if it takes longer than `callTimeout`.
    private func call<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        if busy {
            await withCheckedContinuation { waiting.append($0) }
        } else {
            busy = true
        }
        defer {
            if waiting.isEmpty { busy = false } else { waiting.removeFirst().resume() }
        }
        let connection = try await open()
        let limit = callTimeout
        let timer = Task {
            try await Task.sleep(for: limit)
            try? await connection.close()
        }
        defer { timer.cancel() }
        do {
            return try await body(connection)
        } catch let error as LostLock {
            throw error
        } catch {
            if connection.isClosed {
                self.connection = nil
                if holdsLock {
                    throw LostLock(description: "the shared state store's session that held the active lock ended (\(PostgresCaseSource.describe(error))); another instance may be active now")
                }
            }
            throw StateError("shared state store \(location): \(PostgresCaseSource.describe(error))")
        }
    }

    /// `body` in one transaction.
    private func transaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await call { connection in
            try await connection.query("BEGIN", logger: logger)
            do {
                let value = try await body(connection)
                try await connection.query("COMMIT", logger: logger)
                return value
            } catch {
                if !connection.isClosed { _ = try? await connection.query("ROLLBACK", logger: logger) }
                throw error
            }
        }
    }

    private func rows<each Column: PostgresDecodable & Sendable>(
        _ connection: PostgresConnection, _ query: PostgresQuery, as _: repeat (each Column).Type
    ) async throws -> [(repeat each Column)] {
        var out: [(repeat each Column)] = []
        for try await row in try await connection.query(query, logger: logger).decode((repeat each Column).self) {
            out.append(row)
        }
        return out
    }

    /// Connects and creates the schema if `create` (else checks that it exists).
    public func prepare(create: Bool) async throws {
        if create {
            try await transaction { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended('escalator schema', 0))", logger: logger)
                // Only when missing: creating a schema needs CREATE on the database, which a role given its
                // schema by an administrator may lack even with IF NOT EXISTS.
                let schemaExists = try await rows(connection, "SELECT to_regnamespace(\(cluster)) IS NOT NULL", as: Bool.self).first ?? false
                if !schemaExists {
                    try await connection.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(cluster)"), logger: logger)
                }
                for statement in Self.schema {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
            }
        } else {
            let exists = try await call { connection in
                try await rows(connection, "SELECT to_regclass('outbox') IS NOT NULL", as: Bool.self).first ?? false
            }
            if !exists {
                throw StateError("the shared state store \(location) has no escalator tables yet: has `escalator run` used it?")
            }
        }
    }

    static let schema = [
        """
        CREATE TABLE IF NOT EXISTS occurrence (
            case_id text NOT NULL, policy text NOT NULL, clock text NOT NULL, ordinal bigint NOT NULL, subject text,
            started_at double precision NOT NULL, breach_at double precision, cleared_at double precision,
            notified text NOT NULL, steps text NOT NULL,
            PRIMARY KEY (case_id, policy, clock, ordinal))
        """,
        "CREATE INDEX IF NOT EXISTS occurrence_open ON occurrence (policy, breach_at) WHERE cleared_at IS NULL",
        """
        CREATE TABLE IF NOT EXISTS acknowledgement (
            id bigserial PRIMARY KEY, case_id text NOT NULL, policy text, acked_by text NOT NULL,
            acked_at double precision NOT NULL, until_at double precision NOT NULL, note text,
            revoked_at double precision, revoked_by text, version bigint NOT NULL)
        """,
        "CREATE INDEX IF NOT EXISTS acknowledgement_case ON acknowledgement (case_id)",
        "CREATE INDEX IF NOT EXISTS acknowledgement_version ON acknowledgement (version)",
        "CREATE TABLE IF NOT EXISTS deadline (case_id text PRIMARY KEY, due double precision NOT NULL)",
        "CREATE INDEX IF NOT EXISTS deadline_due ON deadline (due)",
        """
        CREATE TABLE IF NOT EXISTS outbox (
            seq bigserial PRIMARY KEY, notice_id text NOT NULL UNIQUE, case_id text NOT NULL,
            created_at double precision NOT NULL, notice text NOT NULL, email text, spool_name text,
            journal_done boolean NOT NULL DEFAULT false, email_done boolean NOT NULL DEFAULT false,
            delivered_at double precision, attempts integer NOT NULL DEFAULT 0, last_error text)
        """,
        "CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (seq) WHERE delivered_at IS NULL",
        "CREATE TABLE IF NOT EXISTS meta (key text PRIMARY KEY, value text NOT NULL)",
    ]

    // MARK: - The active lock

    /// Tries to become the active instance. True if this instance now holds the lock.
    public func tryAcquire() async throws -> Bool {
        if holdsLock {
            _ = try await call { try await rows($0, "SELECT 1", as: Int.self) }
            return true
        }
        let acquired = try await call { connection in
            try await rows(connection, PostgresQuery(unsafeSQL: "SELECT pg_try_advisory_lock(\(Self.lockKey))"), as: Bool.self).first ?? false
        }
        holdsLock = acquired
        return acquired
    }

    /// Who holds the active lock, as the server knows them (`escalator HOST PID` from ADDRESS), if anyone does.
    public func activeHolder() async -> String? {
        let sql = """
            SELECT a.application_name, coalesce(host(a.client_addr), 'local socket') FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
              AND l.classid::bigint = ((\(Self.lockKey)) >> 32) & 4294967295 AND l.objid::bigint = (\(Self.lockKey)) & 4294967295
            """
        guard let found = try? await call({ try await rows($0, PostgresQuery(unsafeSQL: sql), as: String.self, String.self) }).first else {
            return nil
        }
        return "\(found.0) from \(found.1)"
    }

    public func close() async {
        if let connection { try? await connection.close() }
        connection = nil
    }

    /// A store dropped without `close()` (say, after a failed `prepare`) still closes its connection; the closure
    /// keeps the connection alive until the close has finished.
    deinit {
        if let connection, !connection.isClosed {
            connection.close().whenComplete { _ in _ = connection }
        }
    }

    // MARK: - Escalation state

    public func occurrences(after: String?, limit: Int) async throws -> [(caseID: String, occurrences: [EscalationState.Occurrence])] {
        try await call { connection in
            let page = after == nil ? "" : "WHERE case_id > $1"
            let query = PostgresQuery(
                unsafeSQL: """
                    SELECT case_id, \(Self.occurrenceColumns) FROM occurrence
                    WHERE case_id IN (SELECT DISTINCT case_id FROM occurrence \(page) ORDER BY case_id LIMIT \(limit))
                    ORDER BY case_id, started_at, policy, clock, ordinal
                    """, binds: try Self.binds(after.map { [$0] } ?? []))
            var out: [(caseID: String, occurrences: [EscalationState.Occurrence])] = []
            for try await row in try await connection.query(query, logger: logger).decode(Self.OccurrenceTuple.self) {
                if out.last?.caseID != row.0 { out.append((row.0, [])) }
                out[out.count - 1].occurrences.append(try Self.occurrence(row))
            }
            return out
        }
    }

    public func acknowledgementsInForce() async throws -> [(caseID: String, acknowledgement: Acknowledgement)] {
        try await call { connection in
            try await acknowledgements(connection, where: "revoked_at IS NULL ORDER BY id", []).map { ($0.caseID, $0.acknowledgement) }
        }
    }

    static let occurrenceColumns = "policy, clock, ordinal, subject, started_at, breach_at, cleared_at, notified, steps"
    typealias OccurrenceTuple = (String, String, String, Int, String?, Double, Double?, Double?, String, String)

    static func occurrence(_ row: OccurrenceTuple) throws -> EscalationState.Occurrence {
        EscalationState.Occurrence(
            policy: row.1, clock: row.2, ordinal: row.3, subject: row.4, startedAt: Date(timeIntervalSince1970: row.5),
            breachAt: row.6.map(Date.init(timeIntervalSince1970:)), taken: try StateStore.decode([EscalationState.TakenStep].self, row.9),
            notified: try StateStore.decode([String].self, row.8), clearedAt: row.7.map(Date.init(timeIntervalSince1970:)))
    }

    public func state(caseID: String) async throws -> EscalationState? {
        try await call { connection in
            let query = PostgresQuery(
                unsafeSQL: "SELECT case_id, \(Self.occurrenceColumns) FROM occurrence WHERE case_id = $1 ORDER BY started_at, policy, clock, ordinal",
                binds: try Self.binds(caseID))
            var occurrences: [EscalationState.Occurrence] = []
            for try await row in try await connection.query(query, logger: logger).decode(Self.OccurrenceTuple.self) {
                occurrences.append(try Self.occurrence(row))
            }
            let acks = try await acknowledgements(connection, where: "case_id = $1 AND revoked_at IS NULL ORDER BY id", [caseID]).map(\.acknowledgement)
            return occurrences.isEmpty && acks.isEmpty ? nil : EscalationState(occurrences: occurrences, acknowledgements: acks)
        }
    }

    private struct OccurrenceRow: Encodable {
        let case_id, policy, clock: String
        let ordinal: Int
        let subject: String?
        let started_at: Double
        let breach_at, cleared_at: Double?
        let notified, steps: String
    }

    private struct OutboxRow: Encodable {
        let notice_id, case_id: String
        let created_at: Double
        let notice: String
        let email, spool_name: String?
        let email_done: Bool
    }

    @discardableResult
    public func commit(_ commit: StateStore.Commit, at now: Date) async throws -> Int {
        // Rows travel as one JSON document per table: a tick of 100,000 cases is a handful of statements.
        var occurrences: [OccurrenceRow] = []
        for (caseID, state) in commit.states {
            for occurrence in state.occurrences {
                occurrences.append(OccurrenceRow(
                    case_id: caseID, policy: occurrence.policy, clock: occurrence.clock, ordinal: occurrence.ordinal, subject: occurrence.subject,
                    started_at: occurrence.startedAt.timeIntervalSince1970, breach_at: occurrence.breachAt?.timeIntervalSince1970,
                    cleared_at: occurrence.clearedAt?.timeIntervalSince1970, notified: try StateStore.encode(occurrence.notified),
                    steps: try StateStore.encode(occurrence.taken)))
            }
        }
        var dues: [String: Double] = [:]
        var undue: Set<String> = []
        for (caseID, due) in commit.deadlines {
            if let due {
                dues[caseID] = due.timeIntervalSince1970
                undue.remove(caseID)
            } else {
                dues[caseID] = nil
                undue.insert(caseID)
            }
        }
        let notices = try commit.notices.map { item in
            OutboxRow(
                notice_id: item.notice.id, case_id: item.notice.caseID, created_at: now.timeIntervalSince1970, notice: try StateStore.encode(item.notice),
                email: item.email, spool_name: item.spoolName, email_done: item.email == nil)
        }
        let stateCases = commit.states.map(\.caseID)
        let occurrenceJSON = try StateStore.encode(occurrences)
        let dueJSON = try StateStore.encode(dues.map { DeadlineRow(case_id: $0.key, due: $0.value) })
        let noticeJSON = try StateStore.encode(notices)
        let metaJSON = try StateStore.encode(commit.meta)
        return try await transaction { connection in
            if !stateCases.isEmpty {
                try await connection.query("DELETE FROM occurrence WHERE case_id = ANY(\(stateCases))", logger: logger)
                try await connection.query(
                    "INSERT INTO occurrence SELECT * FROM json_populate_recordset(NULL::occurrence, \(occurrenceJSON)::json)", logger: logger)
            }
            if !dues.isEmpty {
                try await connection.query(
                    """
                    INSERT INTO deadline SELECT * FROM json_populate_recordset(NULL::deadline, \(dueJSON)::json)
                    ON CONFLICT (case_id) DO UPDATE SET due = excluded.due
                    """, logger: logger)
            }
            if !undue.isEmpty {
                try await connection.query("DELETE FROM deadline WHERE case_id = ANY(\(Array(undue)))", logger: logger)
            }
            var queued = 0
            if !notices.isEmpty {
                queued = try await rows(
                    connection,
                    """
                    WITH added AS (
                        INSERT INTO outbox (notice_id, case_id, created_at, notice, email, spool_name, email_done)
                        SELECT x.notice_id, x.case_id, x.created_at, x.notice, x.email, x.spool_name, x.email_done
                        FROM json_populate_recordset(NULL::outbox, \(noticeJSON)::json) WITH ORDINALITY AS x ORDER BY x.ordinality
                        ON CONFLICT (notice_id) DO NOTHING RETURNING 1)
                    SELECT count(*)::bigint FROM added
                    """, as: Int.self
                ).first ?? 0
            }
            if !commit.meta.isEmpty {
                try await connection.query(
                    """
                    INSERT INTO meta SELECT key, value FROM json_each_text(\(metaJSON)::json)
                    ON CONFLICT (key) DO UPDATE SET value = excluded.value
                    """, logger: logger)
            }
            return queued
        }
    }

    private struct DeadlineRow: Encodable {
        let case_id: String
        let due: Double
    }

    // MARK: - Outbox

    public func pendingOutbox(limit: Int) async throws -> [StateStore.OutboxItem] {
        try await call { connection in
            try await rows(
                connection,
                "SELECT seq, notice, email, spool_name, journal_done, email_done, attempts FROM outbox WHERE delivered_at IS NULL ORDER BY seq LIMIT \(limit)",
                as: Int64.self, String.self, String?.self, String?.self, Bool.self, Bool.self, Int.self
            ).map { row in
                StateStore.OutboxItem(
                    seq: row.0, notice: try StateStore.decode(Notice.self, row.1), email: row.2, spoolName: row.3, journalDone: row.4,
                    emailDone: row.5, attempts: row.6)
            }
        }
    }

    public func markDelivered(journal: [Int64], email: [Int64], failed: [(seq: Int64, error: String)], at now: Date) async throws {
        let failures = try StateStore.encode(failed.map { FailureRow(seq: $0.seq, error: $0.error) })
        let time = now.timeIntervalSince1970
        try await transaction { connection in
            if !journal.isEmpty { try await connection.query("UPDATE outbox SET journal_done = true WHERE seq = ANY(\(journal))", logger: logger) }
            if !email.isEmpty { try await connection.query("UPDATE outbox SET email_done = true WHERE seq = ANY(\(email))", logger: logger) }
            if !failed.isEmpty {
                try await connection.query(
                    """
                    UPDATE outbox SET attempts = attempts + 1, last_error = f.error
                    FROM json_to_recordset(\(failures)::json) AS f(seq bigint, error text) WHERE outbox.seq = f.seq
                    """, logger: logger)
            }
            try await connection.query(
                "UPDATE outbox SET delivered_at = \(time) WHERE delivered_at IS NULL AND journal_done AND email_done", logger: logger)
        }
    }

    private struct FailureRow: Encodable {
        let seq: Int64
        let error: String
    }

    public func outboxDepth() async throws -> Int {
        try await call { try await rows($0, "SELECT count(*)::bigint FROM outbox WHERE delivered_at IS NULL", as: Int.self).first ?? 0 }
    }

    @discardableResult
    public func pruneDelivered(olderThan cutoff: Date) async throws -> Int {
        let time = cutoff.timeIntervalSince1970
        return try await call { connection in
            try await rows(
                connection,
                "WITH gone AS (DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < \(time) RETURNING 1) SELECT count(*)::bigint FROM gone",
                as: Int.self
            ).first ?? 0
        }
    }

    public func queuedNoticeIDs() async throws -> [String] {
        try await call { try await rows($0, "SELECT notice_id FROM outbox ORDER BY seq", as: String.self) }
    }

    // MARK: - Acknowledgements

    private func acknowledgements(_ connection: PostgresConnection, where clause: String, _ arguments: [String]) async throws -> [StateStore.AckRecord] {
        let query = PostgresQuery(
            unsafeSQL: "SELECT id, case_id, policy, acked_by, acked_at, until_at, note, revoked_at, revoked_by, version FROM acknowledgement WHERE " + clause,
            binds: try Self.binds(arguments))
        return try await rows(
            connection, query, as: Int64.self, String.self, String?.self, String.self, Double.self, Double.self, String?.self, Double?.self, String?.self, Int64.self
        ).map { row in
            StateStore.AckRecord(
                id: row.0, caseID: row.1,
                acknowledgement: Acknowledgement(
                    policy: row.2, by: row.3, at: Date(timeIntervalSince1970: row.4), until: Date(timeIntervalSince1970: row.5), note: row.6),
                revokedAt: row.7.map(Date.init(timeIntervalSince1970:)), revokedBy: row.8, version: row.9)
        }
    }

    private static func binds(_ texts: String...) throws -> PostgresBindings { try binds(texts) }

    private static func binds(_ texts: [String]) throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: texts.count)
        for text in texts { bindings.append(text) }
        return bindings
    }

    /// The next acknowledgement version. The table lock orders writers, so a reader never sees version N+1
    /// committed before N (which it would then skip).
    private func nextVersion(_ connection: PostgresConnection) async throws -> Int64 {
        try await connection.query("LOCK TABLE acknowledgement IN SHARE ROW EXCLUSIVE MODE", logger: logger)
        return try await rows(connection, "SELECT coalesce(max(version), 0) + 1 FROM acknowledgement", as: Int64.self).first ?? 1
    }

    @discardableResult
    public func acknowledge(caseID: String, _ acknowledgement: Acknowledgement) async throws -> StateStore.AckRecord {
        try await transaction { connection in
            let version = try await nextVersion(connection)
            let id: Int64 = try await rows(
                connection,
                """
                INSERT INTO acknowledgement (case_id, policy, acked_by, acked_at, until_at, note, version)
                VALUES (\(caseID), \(acknowledgement.policy), \(acknowledgement.by), \(acknowledgement.at.timeIntervalSince1970),
                        \(acknowledgement.until.timeIntervalSince1970), \(acknowledgement.note), \(version)) RETURNING id
                """, as: Int64.self
            ).first ?? 0
            return StateStore.AckRecord(id: id, caseID: caseID, acknowledgement: acknowledgement, revokedAt: nil, revokedBy: nil, version: version)
        }
    }

    public func revoke(caseID: String, policy: String?, by: String, at now: Date) async throws -> [StateStore.AckRecord] {
        try await transaction { connection in
            let version = try await nextVersion(connection)
            let current = try await acknowledgements(
                connection, where: "case_id = $1 AND revoked_at IS NULL AND until_at > \(now.timeIntervalSince1970)", [caseID]
            ).filter { policy == nil || $0.acknowledgement.policy == policy }
            guard !current.isEmpty else { return [] }
            let ids = current.map(\.id)
            try await connection.query(
                "UPDATE acknowledgement SET revoked_at = \(now.timeIntervalSince1970), revoked_by = \(by), version = \(version) WHERE id = ANY(\(ids))",
                logger: logger)
            return current
        }
    }

    public func acknowledgementChanges(after version: Int64) async throws -> (changed: [StateStore.AckRecord], version: Int64) {
        try await call { connection in
            let records = try await acknowledgements(connection, where: "version > \(version) ORDER BY version", [])
            return (records, records.map(\.version).max() ?? version)
        }
    }

    public func acknowledgements(caseID: String) async throws -> [Acknowledgement] {
        try await call { connection in
            try await acknowledgements(connection, where: "case_id = $1 AND revoked_at IS NULL ORDER BY id", [caseID]).map(\.acknowledgement)
        }
    }

    public func acknowledgementVersion() async throws -> Int64 {
        try await call { try await rows($0, "SELECT coalesce(max(version), 0)::bigint FROM acknowledgement", as: Int64.self).first ?? 0 }
    }

    // MARK: - Status

    public func openOccurrences(now: Date) async throws -> [StateStore.PolicyCount] {
        let time = now.timeIntervalSince1970
        return try await call { connection in
            try await rows(
                connection,
                """
                SELECT policy, count(*)::bigint, count(*) FILTER (WHERE breach_at IS NOT NULL AND breach_at <= \(time))::bigint
                FROM occurrence WHERE cleared_at IS NULL GROUP BY policy ORDER BY policy
                """, as: String.self, Int.self, Int.self
            ).map { StateStore.PolicyCount(policy: $0.0, open: $0.1, breached: $0.2) }
        }
    }

    public func nextDeadlines(limit: Int) async throws -> [(caseID: String, due: Date)] {
        try await call { connection in
            try await rows(connection, "SELECT case_id, due FROM deadline ORDER BY due, case_id LIMIT \(limit)", as: String.self, Double.self)
                .map { ($0.0, Date(timeIntervalSince1970: $0.1)) }
        }
    }

    public func failingOutbox(limit: Int) async throws -> [(noticeID: String, attempts: Int, error: String)] {
        try await call { connection in
            try await rows(
                connection,
                "SELECT notice_id, attempts, coalesce(last_error, '') FROM outbox WHERE delivered_at IS NULL AND attempts > 0 ORDER BY seq LIMIT \(limit)",
                as: String.self, Int.self, String.self
            ).map { ($0.0, $0.1, $0.2) }
        }
    }

    public func meta() async throws -> [String: String] {
        try await call { connection in
            Dictionary(try await rows(connection, "SELECT key, value FROM meta", as: String.self, String.self).map { ($0.0, $0.1) }, uniquingKeysWith: { $1 })
        }
    }
}
