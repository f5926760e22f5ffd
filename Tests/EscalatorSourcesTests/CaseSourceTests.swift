import EscalatorConfig
import EscalatorCore
import EscalatorTestKit
import Foundation
import PostgresNIO
import Testing

@testable import EscalatorSources

func iso(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

func isoText(_ date: Date) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.string(from: date)
}

/// One suite, run against both drivers: a real SQLite file and a real PostgreSQL server.
@Suite(.serialized) struct CaseSourceTests {
    @Test(arguments: Driver.allCases)
    func readsCasesActivityAndTheDirectory(driver: Driver) async throws {
        let db = try TestDatabase(driver)
        try db.addStaff()
        try db.execute("""
            INSERT INTO orders (id, kind, status, owner, sales_rep, opened_at, promised_at, updated_at)
            VALUES ('TT-1001', 'custom-order', 'in_production', 'rep3', 'rep5', '2026-03-02T03:30:00Z', '2026-03-18T09:00:00Z', '2026-03-10T02:00:00Z');
            INSERT INTO order_activity (id, order_id, kind, at, actor, text, tag) VALUES ('a1', 'TT-1001', 'customer_update', '2026-03-08T08:23:00Z', 'rep2', 'Lay-out sent', 'proof_sent');
            INSERT INTO order_activity (id, order_id, kind, at, due, text) VALUES ('p1', 'TT-1001', 'promise', '2026-03-10T02:00:00Z', '2026-03-18T09:00:00Z', '10 pieces');
            INSERT INTO order_activity (id, order_id, kind, at, quantity, ref) VALUES ('d1', 'TT-1001', 'delivery', '2026-03-21T07:56:00Z', 30, 'p1');
            """)
        let source = try db.open()
        let batch = try await source.readAll(asOf: nil)
        #expect(batch.problems.isEmpty, "\(batch.problems)")
        #expect(batch.isComplete)
        let subject = try #require(batch.cases.first)
        #expect(subject.id == "TT-1001" && subject.kind == "custom-order" && subject.status == "in_production" && subject.owner == "rep3")
        #expect(subject.openedAt == iso("2026-03-02T03:30:00Z") && subject.promisedAt == iso("2026-03-18T09:00:00Z"))
        #expect(subject.attributes == ["sales_rep": "rep5"])
        #expect(subject.activity.map(\.kind) == [.customerUpdate, .promise, .delivery])
        #expect(subject.activity[0].tag == "proof_sent" && subject.activity[1].due == iso("2026-03-18T09:00:00Z"))
        #expect(subject.activity[2].quantity == 30 && subject.activity[2].ref == "p1")
        #expect(batch.cursor.cases == .time(iso("2026-03-10T02:00:00Z")))
        #expect(batch.cursor.activity == iso("2026-03-21T07:56:00Z"))
        let directory = try #require(try await source.readDirectory())
        #expect(directory.people.map(\.id).sorted() == ["mgr1", "rep3", "rep4", "rep5"])
        #expect(directory.people.first { $0.id == "rep3" }?.supervisor == "rep5")
        // The benchmark's bare read: every row of a query, counted.
        #expect(try await source.scan("SELECT * FROM order_activity") == 3)
        #expect(try await source.scan("SELECT * FROM orders WHERE id = 'none'") == 0)
        await source.close()
    }

    @Test(arguments: Driver.allCases)
    func incrementalPollingReadsOnlyWhatChangedAndMissesNothing(driver: Driver) async throws {
        let db = try TestDatabase(driver)
        try db.addStaff()
        try db.execute("""
            INSERT INTO orders (id, status, owner, opened_at, updated_at) VALUES ('A', 'open', 'rep3', '2026-03-01T09:00:00Z', '2026-03-01T10:00:00Z');
            INSERT INTO orders (id, status, owner, opened_at, updated_at) VALUES ('B', 'open', 'rep3', '2026-03-01T09:00:00Z', '2026-03-01T11:00:00Z');
            INSERT INTO order_activity (id, order_id, kind, at) VALUES ('a1', 'A', 'customer_message', '2026-03-01T09:30:00Z');
            """)
        let settings = try db.settings()
        let poller = SourcePoller(source: try db.open(settings), settings: settings)
        var now = iso("2026-03-01T12:00:00Z")
        func poll(_ minutes: Double = 1) async -> SourcePoller.Outcome {
            now = now.addingTimeInterval(minutes * 60)
            return await poller.poll(now: now)
        }

        let first = await poll()
        #expect(first.wasFullResync && first.changed.map(\.id).sorted() == ["A", "B"])
        // B is inside the overlap and read again, but unchanged: dropped by id and version.
        let quiet = await poll()
        #expect(!quiet.wasFullResync && quiet.changed.isEmpty && quiet.problems.isEmpty)

        try db.execute("UPDATE orders SET status = 'in_production', updated_at = '2026-03-01T12:00:00Z' WHERE id = 'A'")
        let update = await poll()
        #expect(update.changed.map(\.id) == ["A"] && update.changed.first?.status == "in_production")

        // A row that shares the newest timestamp, and one committed late (older than the watermark, within the overlap).
        guard case .time(let mark)? = await poller.cursor.cases else {
            Issue.record("no watermark")
            return
        }
        try db.execute("""
            INSERT INTO orders (id, owner, opened_at, updated_at) VALUES ('C', 'rep3', '2026-03-01T09:00:00Z', '\(isoText(mark))');
            INSERT INTO orders (id, owner, opened_at, updated_at) VALUES ('D', 'rep3', '2026-03-01T09:00:00Z', '\(isoText(mark.addingTimeInterval(-120)))');
            INSERT INTO orders (id, owner, opened_at, updated_at) VALUES ('E', 'rep3', '2026-03-01T09:00:00Z', '\(isoText(mark.addingTimeInterval(-7200)))');
            """)
        let late = await poll()
        #expect(late.changed.map(\.id).sorted() == ["C", "D"])

        // New activity on a case whose row did not change.
        try db.execute("INSERT INTO order_activity (id, order_id, kind, at) VALUES ('b1', 'B', 'customer_update', '\(isoText(Date()))')")
        let activity = await poll()
        #expect(activity.changed.map(\.id) == ["B"] && activity.changed.first?.activity.count == 1)

        // A row older than the overlap waits for the full resync, which also finds deletions.
        try db.execute("DELETE FROM orders WHERE id = 'C'")
        let resync = await poll(61)
        #expect(resync.wasFullResync)
        #expect(resync.changed.map(\.id) == ["E"])
        #expect(resync.removed == ["C"])
    }

    /// Rows in the overlap window are read again by every poll; those exactly as seen before are not read in full
    /// (their activity is not fetched), while a same-stamp change and a late activity row still are.
    @Test(arguments: Driver.allCases)
    func rowsReadAgainUnchangedInTheOverlapAreNotReadInFull(driver: Driver) async throws {
        let db = try TestDatabase(driver)
        try db.addStaff()
        try db.execute("""
            INSERT INTO orders (id, status, owner, opened_at, updated_at) VALUES ('A', 'open', 'rep3', '2026-03-01T09:00:00Z', '2026-03-01T11:58:00Z');
            INSERT INTO orders (id, status, owner, opened_at, updated_at) VALUES ('B', 'open', 'rep3', '2026-03-01T09:00:00Z', '2026-03-01T11:59:00Z');
            INSERT INTO order_activity (id, order_id, kind, at) VALUES ('a1', 'A', 'customer_message', '2026-03-01T11:57:00Z');
            INSERT INTO order_activity (id, order_id, kind, at) VALUES ('b1', 'B', 'customer_message', '2026-03-01T11:59:00Z');
            """)
        let source = try db.open()
        let full = try await source.readAll(asOf: nil)
        #expect(full.cases.count == 2)
        // Both rows and both activity rows are inside the 5-minute overlap, and nothing changed.
        let quiet = try await source.readChanged(since: full.cursor, asOf: nil)
        #expect(quiet.cases.isEmpty, "\(quiet.cases.map(\.id))")
        #expect(quiet.cursor.cases == full.cursor.cases && quiet.cursor.activity == full.cursor.activity)
        // Without the window (a cursor from elsewhere) the same poll reads both again.
        var blind = full.cursor
        blind.recent = nil
        #expect(try await source.readChanged(since: blind, asOf: nil).cases.map(\.id).sorted() == ["A", "B"])

        // A's row changes without its stamp changing (two writes within one clock tick), and B gets an activity row
        // committed late, stamped before the newest activity already seen.
        try db.execute("""
            UPDATE orders SET status = 'in_production' WHERE id = 'A';
            UPDATE orders SET updated_at = '2026-03-01T11:58:00Z' WHERE id = 'A';
            INSERT INTO order_activity (id, order_id, kind, at) VALUES ('b0', 'B', 'internal_update', '2026-03-01T11:58:30Z');
            """)
        let next = try await source.readChanged(since: quiet.cursor, asOf: nil)
        #expect(next.cases.map(\.id).sorted() == ["A", "B"])
        #expect(next.cases.first { $0.id == "A" }?.status == "in_production")
        #expect(next.cases.first { $0.id == "B" }?.activity.map(\.id).sorted() == ["b0", "b1"])
        // And then quiet again.
        #expect(try await source.readChanged(since: quiet.cursor.advanced(to: next.cursor), asOf: nil).cases.isEmpty)
        await source.close()
    }

    /// SQLite stores whatever it is given: the change filter must treat epoch numbers, ISO text in any zone and
    /// old values alike, through the index-friendly form it uses.
    @Test func sqliteChangeFilterHandlesEveryStorageOfTheTimestamp() async throws {
        let db = try TestDatabase(.sqlite)
        try db.addStaff()
        // A column of INTEGER affinity keeps epoch numbers as numbers and ISO texts as texts.
        try db.execute("ALTER TABLE orders ADD COLUMN stamp INTEGER")
        for id in ["A", "B", "C", "D", "E"] {
            try db.execute("INSERT INTO orders (id, owner, opened_at, stamp) VALUES ('\(id)', 'rep3', '2026-03-01T09:00:00Z', 1772355600)")
        }
        let yaml = db.sourceYAML().replacingOccurrences(of: "changed_at: updated_at", with: "changed_at: stamp")
        let settings = try db.settings(yaml)
        let poller = SourcePoller(source: try db.open(settings), settings: settings)
        let start = iso("2026-03-01T09:30:00Z")
        #expect(await poller.poll(now: start).changed.count == 5)
        // New content stamped 10:00Z in three ways, and 08:00Z (before the watermark and its overlap) in two.
        try db.execute("""
            UPDATE orders SET status = 'in_production', stamp = 1772359200 WHERE id = 'A';
            UPDATE orders SET status = 'in_production', stamp = '2026-03-01T18:00:00+08:00' WHERE id = 'B';
            UPDATE orders SET status = 'in_production', stamp = '2026-03-01 10:00:00' WHERE id = 'C';
            UPDATE orders SET status = 'in_production', stamp = 1772352000 WHERE id = 'D';
            UPDATE orders SET status = 'in_production', stamp = '2026-03-01T08:00:00Z' WHERE id = 'E';
            """)
        let next = await poller.poll(now: start.addingTimeInterval(60))
        #expect(next.changed.map(\.id).sorted() == ["A", "B", "C"])
    }

    /// `timestamps: utc`: UTC text sorts in time order, so a poll reads an exact index range from the watermark
    /// less the overlap. A row written in another form is reported at the full read, and an incremental poll does
    /// not see its change (that is the declared trade), but the next full read does.
    @Test func declaredUTCTimestampsReadAnExactRangeAndReportRowsWrittenOtherwise() async throws {
        let db = try TestDatabase(.sqlite)
        try db.addStaff()
        for id in ["A", "B", "C"] {
            try db.execute("INSERT INTO orders (id, owner, opened_at, updated_at) VALUES ('\(id)', 'rep3', '2026-03-01T08:00:00Z', '2026-03-01T09:00:00Z')")
        }
        try db.execute("INSERT INTO orders (id, owner, opened_at, updated_at) VALUES ('D', 'rep3', '2026-03-01T08:00:00Z', '2026-03-01 09:00:00')")
        let yaml = db.sourceYAML().replacingOccurrences(of: "  cases:", with: "  timestamps: utc\n  cases:")
        let settings = try db.settings(yaml)
        #expect(settings.timestamps == .utc)
        let poller = SourcePoller(source: try db.open(settings), settings: settings)
        // Polled the moment the newest row was written, so the clock does not move the next range's start.
        let start = iso("2026-03-01T09:00:00Z")
        let first = await poller.poll(now: start)
        #expect(first.changed.count == 4)
        #expect(first.problems.map(\.caseID) == ["D"])
        #expect(first.problems.first?.message.contains("is not UTC text ending in Z, as timestamps: utc declares") == true)
        // The watermark is 09:00Z, the overlap 5 minutes: the range starts at 08:55:00.
        try db.execute("""
            UPDATE orders SET status = 'in_production', updated_at = '2026-03-01T08:55:00.250Z' WHERE id = 'A';
            UPDATE orders SET status = 'in_production', updated_at = '2026-03-01T08:54:59Z' WHERE id = 'B';
            UPDATE orders SET status = 'in_production', updated_at = '2026-03-01 10:00:00' WHERE id = 'C';
            """)
        let next = await poller.poll(now: start.addingTimeInterval(60))
        #expect(!next.wasFullResync)
        #expect(next.changed.map(\.id) == ["A"])
        // The hourly full read finds the rest.
        let full = await poller.poll(now: start.addingTimeInterval(3700))
        #expect(full.wasFullResync)
        #expect(full.changed.map(\.id).sorted() == ["B", "C"])
    }

    /// Once the database's clock is an overlap past the newest change, a poll reads only later rows: a quiet
    /// database costs no rows, however many were changed in the last burst. A late commit that the clock still
    /// allows for is read; one later than that waits for the full read. SQLite's clock is the poll's `now`.
    @Test func aQuietDatabaseIsPolledWithoutReadingAnyRowOnceItsClockIsPastTheOverlap() async throws {
        let db = try TestDatabase(.sqlite)
        try db.addStaff()
        for id in ["A", "B", "C"] {
            try db.execute("""
                INSERT INTO orders (id, owner, opened_at, updated_at) VALUES ('\(id)', 'rep3', '2026-03-01T08:00:00Z', '2026-03-01T09:00:00Z');
                INSERT INTO order_activity (id, order_id, kind, at) VALUES ('\(id)1', '\(id)', 'customer_message', '2026-03-01T09:00:00Z');
                """)
        }
        let settings = try db.settings()
        let poller = SourcePoller(source: try db.open(settings), settings: settings)
        func poll(_ time: String) async -> SourcePoller.Outcome { await poller.poll(now: iso("2026-03-01T\(time)Z")) }

        let full = await poll("09:01:00")
        #expect(full.wasFullResync && full.changed.count == 3 && full.rowsRead == 6)
        // The clock of the read before (09:01) leaves the burst at 09:00 inside the overlap: read again, unchanged.
        let inside = await poll("09:02:00")
        #expect(inside.changed.isEmpty && inside.rowsRead == 6)
        #expect(await poll("09:05:01").rowsRead == 6)
        // 09:05:01 is past 09:00 plus 5 minutes: from here on nothing is read.
        let quiet = await poll("09:06:00")
        #expect(!quiet.wasFullResync && quiet.changed.isEmpty && quiet.rowsRead == 0)
        #expect(await poll("09:07:00").rowsRead == 0)

        // New rows are read whatever the clock says, a late commit within the overlap of the clock too.
        try db.execute("INSERT INTO orders (id, owner, opened_at, updated_at) VALUES ('D', 'rep3', '2026-03-01T08:00:00Z', '2026-03-01T09:07:30Z')")
        let new = await poll("09:08:00")
        #expect(new.changed.map(\.id) == ["D"])
        try db.execute("""
            INSERT INTO orders (id, owner, opened_at, updated_at) VALUES ('E', 'rep3', '2026-03-01T08:00:00Z', '2026-03-01T09:04:00Z');
            INSERT INTO order_activity (id, order_id, kind, at) VALUES ('A2', 'A', 'customer_update', '2026-03-01T09:03:30Z');
            """)
        let late = await poll("09:09:00")
        #expect(late.changed.map(\.id).sorted() == ["A", "E"])
        #expect(await poll("09:30:00").rowsRead > 0)
        // A row stamped 09:00 that commits now, over an hour later, is beyond what the overlap allows for: the
        // polls do not see it, the next full read does.
        try db.execute("INSERT INTO orders (id, owner, opened_at, updated_at) VALUES ('F', 'rep3', '2026-03-01T08:00:00Z', '2026-03-01T09:00:00Z')")
        let missed = await poll("10:00:00")
        #expect(!missed.wasFullResync && missed.changed.isEmpty && missed.rowsRead == 0)
        let resync = await poll("10:01:00")
        #expect(resync.wasFullResync && resync.changed.map(\.id) == ["F"])
    }

    /// The same on PostgreSQL, where the clock is the server's own (`statement_timestamp()`): rows stamped ten
    /// minutes before it are read by the full read and then never again, while the rows the server stamps as they
    /// change, and a late row within the overlap, are read.
    @Test func aQuietPostgresDatabaseIsPolledByItsOwnClock() async throws {
        let db = try TestDatabase(.postgres)
        try db.addStaff()
        try db.execute("""
            INSERT INTO orders (id, owner, opened_at, updated_at) VALUES ('A', 'rep3', now() - interval '1 day', now() - interval '10 minutes');
            INSERT INTO orders (id, owner, opened_at, updated_at) VALUES ('B', 'rep3', now() - interval '1 day', now() - interval '10 minutes');
            INSERT INTO order_activity (id, order_id, kind, at) VALUES ('A1', 'A', 'customer_message', now() - interval '10 minutes');
            """)
        let settings = try db.settings()
        let poller = SourcePoller(source: try db.open(settings), settings: settings)
        // The daemon's clock plays no part here: polls a minute apart by it, whatever the server's says.
        var now = iso("2026-03-01T12:00:00Z")
        func poll() async -> SourcePoller.Outcome {
            now = now.addingTimeInterval(60)
            return await poller.poll(now: now)
        }
        let full = await poll()
        #expect(full.wasFullResync && full.changed.count == 2 && full.rowsRead == 3 && !full.failed)
        let quiet = await poll()
        #expect(!quiet.wasFullResync && !quiet.failed && quiet.changed.isEmpty && quiet.rowsRead == 0)

        // The server stamps the update; a row stamped two minutes back commits late.
        try db.execute("""
            UPDATE orders SET status = 'in_production' WHERE id = 'A';
            INSERT INTO orders (id, owner, opened_at, updated_at) VALUES ('C', 'rep3', now() - interval '1 day', now() - interval '2 minutes');
            """)
        let changed = await poll()
        #expect(changed.changed.map(\.id).sorted() == ["A", "C"])
        #expect(changed.changed.first { $0.id == "A" }?.status == "in_production")
    }

    @Test func anUnknownTimestampFormIsAnErrorThatNamesTheChoices() throws {
        let db = try TestDatabase(.sqlite)
        let yaml = db.sourceYAML().replacingOccurrences(of: "  cases:", with: "  timestamps: utcc\n  cases:")
        let config = try TemporaryDirectory("escalator-cfg")
        defer { config.remove() }
        try yaml.write(toFile: "\(config.path)/escalator.yaml", atomically: true, encoding: .utf8)
        let result = ConfigLoader.load(directory: config.path)
        #expect(result.configuration == nil)
        let errors = result.diagnostics.filter { $0.severity == .error }.map(\.description)
        #expect(errors.count == 1)
        #expect(errors.first?.hasSuffix("escalator.yaml:4:15: error: unknown timestamp form \"utcc\"; did you mean \"utc\"?") == true, "\(errors)")
    }

    @Test(arguments: Driver.allCases)
    func aVersionColumnWorksLikeATimestamp(driver: Driver) async throws {
        let db = try TestDatabase(driver)
        try db.addStaff()
        try db.execute("""
            ALTER TABLE orders ADD COLUMN row_version BIGINT;
            INSERT INTO orders (id, owner, opened_at, row_version) VALUES ('A', 'rep3', '2026-03-01T09:00:00Z', 10);
            INSERT INTO orders (id, owner, opened_at, row_version) VALUES ('B', 'rep3', '2026-03-01T09:00:00Z', 11);
            """)
        try db.grantReader()
        let yaml = db.sourceYAML().replacingOccurrences(of: "changed_at: updated_at\n    overlap: 5m", with: "version: row_version\n    overlap: 1")
        let settings = try db.settings(yaml)
        #expect(settings.change == .version(column: "row_version", overlap: 1))
        let poller = SourcePoller(source: try db.open(settings), settings: settings)
        let start = iso("2026-03-01T12:00:00Z")
        #expect(await poller.poll(now: start).changed.count == 2)
        #expect(await poller.cursor.cases == .version(11))
        // Version 11 is committed again late with new content, and 12 arrives: both are read.
        try db.execute("""
            UPDATE orders SET status = 'in_production' WHERE id = 'B';
            INSERT INTO orders (id, owner, opened_at, row_version) VALUES ('C', 'rep3', '2026-03-01T09:00:00Z', 12);
            """)
        let next = await poller.poll(now: start.addingTimeInterval(60))
        #expect(next.changed.map(\.id).sorted() == ["B", "C"])
        #expect(await poller.cursor.cases == .version(12))
    }

    @Test(arguments: Driver.allCases)
    func asOfReadsSeeHistoryAsItWasThen(driver: Driver) async throws {
        let db = try TestDatabase(driver)
        try db.addStaff()
        try db.execute("""
            INSERT INTO orders (id, status, owner, opened_at, closed_at, updated_at) VALUES ('A', 'delivered', 'rep4', '2026-03-02T03:30:00Z', '2026-03-10T08:00:00Z', '2026-03-10T08:00:00Z');
            INSERT INTO orders (id, status, owner, opened_at, updated_at) VALUES ('LATER', 'open', 'rep3', '2026-03-08T03:30:00Z', '2026-03-08T03:30:00Z');
            INSERT INTO order_activity (id, order_id, kind, at, status) VALUES ('s1', 'A', 'status_change', '2026-03-05T01:00:00Z', 'in_production');
            INSERT INTO order_activity (id, order_id, kind, at, person) VALUES ('g1', 'A', 'assignment', '2026-03-09T01:00:00Z', 'rep4');
            INSERT INTO order_activity (id, order_id, kind, at, status) VALUES ('s2', 'A', 'status_change', '2026-03-10T08:00:00Z', 'delivered');
            """)
        let source = try db.open()
        let then = try await source.readAll(asOf: iso("2026-03-06T00:00:00Z"))
        #expect(then.cases.map(\.id) == ["A"])
        let a = try #require(then.cases.first)
        #expect(a.status == "in_production" && a.closedAt == nil && a.activity.map(\.id) == ["s1"])
        let now = try await source.readAll(asOf: nil)
        #expect(now.cases.count == 2 && now.cases.first { $0.id == "A" }?.status == "delivered")
        await source.close()
    }

    @Test(arguments: Driver.allCases)
    func hostileRowsAreReportedOnceAndNeverCrash(driver: Driver) async throws {
        let db = try TestDatabase(driver)
        let newline = driver == .sqlite ? "'X' || char(10) || 'Y'" : "E'X\\nY'"
        let crlf = driver == .sqlite ? "'rep3' || char(13) || char(10) || 'Bcc: victim@example.com'" : "E'rep3\\r\\nBcc: victim@example.com'"
        let huge = driver == .sqlite ? "replace(hex(zeroblob(5242880)), '0', 'x')" : "repeat('x', 10485760)"
        try db.execute("""
            CREATE TABLE hostile (id TEXT, kind TEXT, status TEXT, owner TEXT, opened_at TEXT, promised_at TEXT, closed_at TEXT, updated_at TEXT);
            CREATE TABLE hostile_activity (id TEXT, order_id TEXT, kind TEXT, at TEXT, text TEXT);
            INSERT INTO hostile (id, opened_at) VALUES (NULL, '2026-03-02T03:30:00Z');
            INSERT INTO hostile (id, opened_at) VALUES ('../../etc/passwd', '2026-03-02T03:30:00Z');
            INSERT INTO hostile (id, opened_at) VALUES (\(newline), '2026-03-02T03:30:00Z');
            INSERT INTO hostile (id, opened_at) VALUES ('BAD-DATE', 'yesterday');
            INSERT INTO hostile (id, opened_at) VALUES ('YEAR0', '0000-01-01T00:00:00Z');
            INSERT INTO hostile (id, opened_at) VALUES ('Y9999', '9999-12-31T00:00:00Z');
            INSERT INTO hostile (id, opened_at) VALUES ('NO-DATE', NULL);
            INSERT INTO hostile (id, opened_at, status) VALUES ('HUGE', '2026-03-02T03:30:00Z', \(huge));
            INSERT INTO hostile (id, opened_at, owner, promised_at) VALUES ('CRLF', '2026-03-02 11:30:00', \(crlf), 'soon');
            INSERT INTO hostile (id, opened_at) VALUES ('UNIX', '1772422200');
            INSERT INTO hostile_activity (id, order_id, kind, at) VALUES ('x1', 'UNIX', 'smoke_signal', '2026-03-03T00:00:00Z');
            INSERT INTO hostile_activity (id, order_id, kind, at) VALUES ('x2', NULL, 'note', '2026-03-03T00:00:00Z');
            INSERT INTO hostile_activity (id, order_id, kind, at) VALUES ('x3', 'UNIX', 'note', 'never');
            INSERT INTO hostile_activity (id, order_id, kind, at, text) VALUES ('x4', 'UNIX', 'note', '2026-03-03T00:00:00Z', \(huge));
            """)
        try db.grantReader()
        let yaml = db.sourceYAML().replacingOccurrences(of: "SELECT * FROM orders", with: "SELECT * FROM hostile")
            .replacingOccurrences(of: "SELECT * FROM order_activity", with: "SELECT * FROM hostile_activity")
            .replacingOccurrences(of: "    attributes: [sales_rep]\n", with: "")
        let settings = try db.settings(yaml)
        let poller = SourcePoller(source: try db.open(settings), settings: settings)
        let outcome = await poller.poll(now: Date())
        #expect(outcome.changed.map(\.id).sorted() == ["CRLF", "HUGE", "UNIX"])
        let messages = outcome.problems.map(\.description).sorted()
        #expect(messages == [
            "activity: a row: case reference: the id is missing (row skipped)",
            "activity: case UNIX: at \"never\" is not a timestamp (row skipped)",
            "activity: case UNIX: text is 10485760 bytes long; cut to 4096 characters",
            "activity: case UNIX: unknown activity kind \"smoke_signal\" (map it under source.activity.kinds) (row skipped)",
            "cases: a row: the id is missing (row skipped)",
            "cases: case ../../etc/passwd: the id \"../../etc/passwd\" contains '/', which ids may not (they name files and mail threads) (row skipped)",
            "cases: case BAD-DATE: opened_at \"yesterday\" is not a timestamp (row skipped)",
            "cases: case CRLF: owner contains control characters; replaced",
            "cases: case CRLF: promised_at \"soon\" is not a timestamp",
            "cases: case HUGE: status is 10485760 bytes long; cut to 200 characters",
            "cases: case NO-DATE: opened_at is missing (row skipped)",
            "cases: case X?Y: the id \"X?Y\" contains a control character (row skipped)",
            "cases: case Y9999: opened_at 9999-12-31T00:00:00Z is out of range (1970 to 3000) (row skipped)",
            "cases: case YEAR0: opened_at 0000-01-01T00:00:00Z is out of range (1970 to 3000) (row skipped)",
        ].sorted())
        let crlfCase = try #require(outcome.changed.first { $0.id == "CRLF" })
        #expect(crlfCase.owner?.contains("\r") == false && crlfCase.owner?.contains("\n") == false)
        #expect(crlfCase.openedAt == iso("2026-03-02T11:30:00Z"))  // text without a zone is read in source.timezone (UTC)
        #expect(outcome.changed.first { $0.id == "UNIX" }?.openedAt == Date(timeIntervalSince1970: 1_772_422_200))
        // Polled again, nothing is reported twice.
        let again = await poller.poll(now: Date().addingTimeInterval(7200))
        #expect(again.problems.isEmpty)
    }

    @Test(arguments: Driver.allCases)
    func theSessionIsReadOnlyEvenForAPrivilegedUser(driver: Driver) async throws {
        let db = try TestDatabase(driver)
        switch driver {
        case .sqlite:
            let source = try #require(try db.open() as? SQLiteCaseSource)
            await #expect(throws: SourceError.self) { _ = try await SourceReader.collect(source.stream, "CREATE TABLE escalator_was_here (a)", []) }
            await #expect(throws: SourceError.self) { _ = try await SourceReader.collect(source.stream, "DELETE FROM orders", []) }
        case .postgres:
            try db.server!.superuserPassword.write(toFile: "\(db.directory.path)/superpw", atomically: true, encoding: .utf8)
            let yaml = db.sourceYAML(user: "postgres", passwordKey: "password_file: \(db.directory.path)/superpw")
            let source = try #require(try db.open(try db.settings(yaml)) as? PostgresCaseSource)
            let shown = try await SourceReader.collect(source.stream, "SHOW default_transaction_read_only", [])
            #expect(shown.first?["default_transaction_read_only"] == .text("on"))
            do {
                _ = try await SourceReader.collect(source.stream, "CREATE TABLE escalator_was_here (a int)", [])
                Issue.record("a write went through")
            } catch let error as SourceError {
                #expect(error.detail.contains("read-only transaction"))
            }
            await source.close()
        }
    }

    @Test func postgresStatementsTimeOut() async throws {
        let db = try TestDatabase(.postgres)
        let source = try #require(try db.open() as? PostgresCaseSource)
        do {
            _ = try await SourceReader.collect(source.stream, "SELECT pg_sleep(5)", [])
            Issue.record("the statement was not cancelled")
        } catch let error as SourceError {
            #expect(error.detail.contains("statement timeout"))
        }
        await source.close()
    }

    @Test func postgresPasswordsComeFromFilesCredentialsAndPassfilesAndAreNeverShown() async throws {
        let db = try TestDatabase(.postgres)
        try db.addStaff()
        // A systemd credential.
        let credentials = try TemporaryDirectory("escalator-cred")
        defer { credentials.remove() }
        try TestDatabase.readerPassword.write(toFile: "\(credentials.path)/pg-password", atomically: true, encoding: .utf8)
        let byCredential = try db.open(try db.settings(db.sourceYAML(passwordKey: "password_credential: pg-password")), environment: ["CREDENTIALS_DIRECTORY": credentials.path])
        #expect(try await byCredential.readDirectory()?.people.count == 4)
        await byCredential.close()
        #expect(throws: SourceError.self) { try db.open(try db.settings(db.sourceYAML(passwordKey: "password_credential: pg-password")), environment: [:]) }
        // A .pgpass file: the first matching line wins, wildcards allowed.
        let passfile = "\(db.directory.path)/pgpass"
        try "otherhost:5432:*:*:nope\n127.0.0.1:\(db.server!.port):*:escalator_ro:\(TestDatabase.readerPassword)\n".write(toFile: passfile, atomically: true, encoding: .utf8)
        let byPassfile = try db.open(try db.settings(db.sourceYAML(passwordKey: "passfile: \(passfile)")))
        #expect(try await byPassfile.readDirectory()?.people.count == 4)
        await byPassfile.close()
        // A wrong password fails with a message that does not contain it.
        let wrong = "wrong-\(UUID().uuidString)"
        try wrong.write(toFile: "\(db.directory.path)/badpw", atomically: true, encoding: .utf8)
        let bad = try db.open(try db.settings(db.sourceYAML(passwordKey: "password_file: \(db.directory.path)/badpw")))
        do {
            _ = try await bad.readAll(asOf: nil)
            Issue.record("connected with a wrong password")
        } catch {
            #expect(!"\(error)".contains(wrong))
            #expect("\(error)".contains("connect to PostgreSQL"))
        }
        await bad.close()
    }

    @Test func aPostgresOutageIsReportedOnceEachWayAndCaughtUp() async throws {
        let server = try PostgresServer()
        defer { server.destroy() }
        let db = try TestDatabase(.postgres, server: server)
        try db.addStaff()
        try db.execute("INSERT INTO orders (id, owner, opened_at, updated_at) VALUES ('A', 'rep3', '2026-03-01T09:00:00Z', '2026-03-01T10:00:00Z')")
        let settings = try db.settings()
        let poller = SourcePoller(source: try db.open(settings), settings: settings)
        var now = iso("2026-03-01T12:00:00Z")
        let first = await poller.poll(now: now)
        #expect(first.changed.map(\.id) == ["A"] && first.healthEvent == nil)

        try server.stop()
        var events: [SourceHealth.Event] = []
        var delays: [TimeInterval] = []
        for _ in 0..<4 {
            now = now.addingTimeInterval(5)
            let outcome = await poller.poll(now: now)
            #expect(outcome.failed)
            if let event = outcome.healthEvent { events.append(event) }
            delays.append(outcome.nextPoll.timeIntervalSince(now))
        }
        #expect(events.count == 1)
        if case .down(let since, let error)? = events.first {
            #expect(since == iso("2026-03-01T12:00:05Z"))
            #expect(error.contains("PostgreSQL"))
        } else {
            Issue.record("no down event: \(events)")
        }
        #expect(delays == [1, 2, 4, 8])
        #expect(await poller.health.isDegraded)

        try server.start()
        try db.execute("INSERT INTO orders (id, owner, opened_at, updated_at) VALUES ('B', 'rep3', '2026-03-01T09:00:00Z', '2026-03-01T12:00:10Z')")
        now = now.addingTimeInterval(10)
        let back = await poller.poll(now: now)
        #expect(back.healthEvent == .up(after: 25, failedAttempts: 4))  // down at 12:00:05, back at 12:00:30
        #expect(back.changed.map(\.id) == ["B"])
        #expect(await !poller.health.isDegraded)
    }

    @Test(arguments: Driver.allCases)
    func theGeneratorWritesRealisticDatabasesThatReadBackWhole(driver: Driver) async throws {
        let generator = SyntheticOrders(cases: 300, seed: 7)
        let db = try TestDatabase(driver)
        switch driver {
        case .sqlite:
            try generator.writeSQLite(path: "\(db.directory.path)/orders.db")
        case .postgres:
            let server = db.server!
            let configuration = PostgresConnection.Configuration(
                host: "127.0.0.1", port: server.port, username: "postgres", password: server.superuserPassword, database: db.name, tls: .disable)
            try await generator.writePostgres(configuration)
            try server.psql("GRANT SELECT ON ALL TABLES IN SCHEMA public TO escalator_ro;", database: db.name)
        }
        let source = try db.open()
        let batch = try await source.readAll(asOf: nil)
        #expect(batch.problems.isEmpty, "\(batch.problems.prefix(3))")
        #expect(batch.cases.count == 300)
        let activity = batch.cases.map(\.activity.count).reduce(0, +)
        #expect(activity > 300 * 5 && activity < 300 * 15)
        #expect(Set(batch.cases.flatMap { $0.activity.map(\.kind) }).count >= 7)
        let people = try #require(try await source.readDirectory()).people
        #expect(people.count == generator.staff.count)
        #expect(Directory(people).firstCycle() == nil)
        // The same seed gives the same data.
        var again: [String] = []
        generator.forEachOrder { order, _ in again.append(order.id + (order.owner ?? "-")) }
        #expect(again == batch.cases.map { $0.id + ($0.owner ?? "-") }.sorted())

        // A packing full read (the daemon's) gives the same cases, fingerprints, problems and window, now and as of
        // a past instant, packed in memory or onto a shelf (whose file then holds every case, once).
        for asOf in [nil, generator.end.addingTimeInterval(-20 * 86_400)] {
            let plain = try await source.readAll(asOf: asOf)
            let shelf = try Shelf(directory: NSTemporaryDirectory())
            for packing in [CasePacking.memory, .shelf(shelf)] {
                let packed = try await source.readAll(asOf: asOf, packing: packing)
                #expect(packed.cases.isEmpty && packed.packed.count == plain.cases.count)
                #expect(packed.packed.map { $0.subject.unpacked() } == plain.cases)
                #expect(packed.packed.map(\.fingerprint) == plain.cases.map(\.hashValue))
                #expect(packed.packed.map(\.subject.id) == plain.cases.map(\.id))
                #expect(packed.cursor == plain.cursor && packed.rowsRead == plain.rowsRead)
                #expect(packed.problems.map(\.description) == plain.problems.map(\.description))
            }
            let sizes = try await source.readAll(asOf: asOf, packing: .memory).packed.map(\.subject.size).reduce(0, +)
            #expect(shelf.size == sizes && sizes > 0)
        }
        await source.close()
    }

    /// A packing full read maps its activity rows a stretch at a time on several cores and packs them on another
    /// (`PackingAttacher`). Over several stretches of rows, a sprinkling of them bad, it reports the same problems
    /// in the same order as a plain read, gives rows without an id the same ids (made from their position in the
    /// result) and builds the same cases.
    @Test func aPackingReadSharedAmongCoresReportsAndBuildsWhatAPlainReadDoes() async throws {
        let db = try TestDatabase(.sqlite)
        try db.addStaff()
        let rowCount = SourceReader.PackingAttacher.stretch * 3 + 517
        try db.execute("""
            CREATE TABLE many_activity (id TEXT, order_id, kind TEXT, at TEXT);
            WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 299)
            INSERT INTO orders (id, owner, opened_at, updated_at)
                SELECT printf('O%03d', i), 'rep3', '2026-03-01T08:00:00Z', '2026-03-01T09:00:00Z' FROM n;
            WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < \(rowCount - 1))
            INSERT INTO many_activity
                SELECT CASE WHEN i % 97 = 0 THEN NULL ELSE 'a' || i END,
                       CASE WHEN i % 113 = 0 THEN 'ZZ' ELSE printf('O%03d', i % 300) END,
                       CASE WHEN i % 101 = 0 THEN 'mystery' WHEN i % 2 = 0 THEN 'customer_update' ELSE 'internal_update' END,
                       CASE WHEN i % 89 = 0 THEN 'not a time' WHEN i % 53 = 0 THEN '2026-03-02 10:00:00'
                            ELSE strftime('%Y-%m-%dT%H:%M:%SZ', '2026-03-01T08:00:00Z', '+' || i || ' minutes') END
                FROM n;
            """)
        let yaml = db.sourceYAML()
            .replacingOccurrences(of: "SELECT * FROM order_activity", with: "SELECT * FROM many_activity")
            .replacingOccurrences(of: "  cases:", with: "  timestamps: utc\n  cases:")
        let source = try db.open(try db.settings(yaml))
        let plain = try await source.readAll(asOf: nil)
        #expect(plain.rowsRead == 300 + rowCount)
        let kinds = plain.problems.map(\.message)
        #expect(kinds.contains { $0.contains("unknown activity kind") } && kinds.contains { $0.contains("not UTC text ending in Z") })
        #expect(plain.problems.count > 100)
        #expect(plain.cases.flatMap(\.activity).contains { $0.id.hasPrefix("row-") })
        for packing in [CasePacking.memory, .shelf(try Shelf(directory: NSTemporaryDirectory()))] {
            let packed = try await source.readAll(asOf: nil, packing: packing)
            #expect(packed.problems.map(\.description) == plain.problems.map(\.description))
            #expect(packed.packed.map { $0.subject.unpacked() } == plain.cases)
            #expect(packed.packed.map(\.fingerprint) == plain.cases.map(\.hashValue))
            #expect(packed.cursor == plain.cursor && packed.rowsRead == plain.rowsRead)
        }
        await source.close()
    }

    /// SQLite orders numbers before text, so activity whose case column holds 7 for some rows and '7' for others
    /// does not come together: a packing read merges the rows into the case packed before, as a plain read does.
    @Test func aPackingReadMergesACasesRowsThatDoNotComeTogether() async throws {
        let db = try TestDatabase(.sqlite)
        try db.addStaff()
        try db.execute("""
            CREATE TABLE loose_activity (id TEXT, order_id, kind TEXT, at TEXT);
            INSERT INTO orders (id, owner, opened_at, updated_at) VALUES ('7', 'rep3', '2026-03-01T08:00:00Z', '2026-03-01T09:00:00Z');
            INSERT INTO orders (id, owner, opened_at, updated_at) VALUES ('8', 'rep3', '2026-03-01T08:00:00Z', '2026-03-01T09:00:00Z');
            INSERT INTO loose_activity VALUES ('a1', 7, 'customer_message', '2026-03-01T08:10:00Z');
            INSERT INTO loose_activity VALUES ('a2', '7', 'customer_update', '2026-03-01T08:20:00Z');
            INSERT INTO loose_activity VALUES ('b1', 8, 'customer_message', '2026-03-01T08:30:00Z');
            INSERT INTO loose_activity VALUES ('a3', 7, 'internal_update', '2026-03-01T08:40:00Z');
            """)
        let yaml = db.sourceYAML().replacingOccurrences(of: "SELECT * FROM order_activity", with: "SELECT * FROM loose_activity")
        let source = try db.open(try db.settings(yaml))
        let plain = try await source.readAll(asOf: nil)
        #expect(plain.cases.first { $0.id == "7" }?.activity.map(\.id) == ["a1", "a2", "a3"])
        for packing in [CasePacking.memory, .shelf(try Shelf(directory: NSTemporaryDirectory()))] {
            let packed = try await source.readAll(asOf: nil, packing: packing)
            #expect(packed.packed.map { $0.subject.unpacked() } == plain.cases)
            #expect(packed.packed.map(\.fingerprint) == plain.cases.map(\.hashValue))
        }
        await source.close()
    }
}
