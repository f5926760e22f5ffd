import EscalatorConfig
import EscalatorCore
import Foundation
import Testing

@testable import EscalatorSources

@Suite struct TimestampParserTests {
    static let utc = TimestampParser(timeZone: TimeZone(identifier: "UTC")!)
    static let manila = TimestampParser(timeZone: TimeZone(identifier: "Asia/Manila")!)

    @Test(arguments: [
        ("2026-03-02T03:30:00Z", "2026-03-02T03:30:00Z"),
        ("2026-03-02 03:30:00", "2026-03-02T03:30:00Z"),
        ("2026-03-02 03:30", "2026-03-02T03:30:00Z"),
        ("2026-03-02", "2026-03-02T00:00:00Z"),
        ("2026-03-02T11:30:00+08:00", "2026-03-02T03:30:00Z"),
        ("2026-03-02T11:30:00.250+0800", "2026-03-02T03:30:00Z"),
        ("1772422200", "2026-03-02T03:30:00Z"),
    ])
    func parsesEveryCommonForm(text: String, expected: String) throws {
        let parsed = try Self.utc.parse(.text(text)).get()
        #expect(parsed.map { Int($0.timeIntervalSince1970) } == Int(iso(expected).timeIntervalSince1970))
    }

    @Test func textWithoutAZoneIsReadInTheConfiguredZone() throws {
        #expect(try Self.manila.parse(.text("2026-03-02 11:30:00")).get() == iso("2026-03-02T03:30:00Z"))
        #expect(try Self.manila.parse(.integer(1_772_422_200)).get() == iso("2026-03-02T03:30:00Z"))
        #expect(try Self.manila.parse(.real(1_772_422_200.5)).get() == Date(timeIntervalSince1970: 1_772_422_200.5))
    }

    @Test func rejectsNonsenseAndOutOfRange() {
        #expect(Self.utc.parse(.text("yesterday")) == .failure(.unparsable("yesterday")))
        #expect(Self.utc.parse(.text("2026-02-30")) == .failure(.unparsable("2026-02-30")))
        #expect(Self.utc.parse(.text("2026-03-02T25:00:00Z")) == .failure(.unparsable("2026-03-02T25:00:00Z")))
        #expect(Self.utc.parse(.text("0000-01-01")) == .failure(.outOfRange("0000-01-01T00:00:00Z")))
        #expect(Self.utc.parse(.integer(-5)) == .failure(.outOfRange("1969-12-31T23:59:55Z")))
        #expect(Self.utc.parse(.real(.infinity)) == .failure(.outOfRange("inf")))
        #expect(Self.utc.parse(.bytes(4)) == .failure(.wrongType("binary data")))
        #expect(Self.utc.parse(.null) == .success(nil))
        #expect(Self.utc.parse(.text("  ")) == .success(nil))
    }
}

@Suite struct SourceHealthTests {
    @Test func backsOffExponentiallyUpToTheCapAndReportsOnceEachWay() {
        var health = SourceHealth(base: 1, cap: 60)
        let start = Date(timeIntervalSince1970: 1_000_000)
        var delays: [TimeInterval] = []
        var events: [SourceHealth.Event] = []
        for attempt in 0..<9 {
            let (event, delay) = health.failed("connection refused", at: start.addingTimeInterval(Double(attempt)))
            if let event { events.append(event) }
            delays.append(delay)
        }
        #expect(delays == [1, 2, 4, 8, 16, 32, 60, 60, 60])
        #expect(events == [.down(since: start, error: "connection refused")])
        #expect(health.isDegraded && health.lastError == "connection refused")
        #expect(health.succeeded(at: start.addingTimeInterval(100)) == .up(after: 100, failedAttempts: 9))
        #expect(health.succeeded(at: start.addingTimeInterval(160)) == nil)
        #expect(!health.isDegraded && health.failedAttempts == 0)
    }
}

@Suite struct SourceSettingsTests {
    @Test func theShippedSchemasAreTheOnesTheGeneratorWrites() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        #expect(try String(contentsOfFile: "\(root)/Config/schema/sqlite.sql", encoding: .utf8) == ReferenceSchema.sqlite)
        #expect(try String(contentsOfFile: "\(root)/Config/schema/postgres.sql", encoding: .utf8) == ReferenceSchema.postgres)
    }

    @Test func passfileLinesHonourEscapes() {
        #expect(PostgresPassword.splitPassfileLine(#"db\:host:5432:*:me:pa\:ss\\word"#) == ["db:host", "5432", "*", "me", #"pa:ss\word"#])
    }
}
