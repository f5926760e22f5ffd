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

@Suite struct SQLiteTextBoundTests {
    /// Every text the parser reads as an instant at or after `from` must sort at or above the bound the SQLite
    /// change filter starts its index range at; otherwise a poll would miss the row. Seeded random instants,
    /// offsets up to a day either way, and every written form: 'T' or space, with or without seconds and fraction,
    /// 'Z', an offset or no zone at all (read in the configured zone, here 11 hours behind UTC).
    @Test func everyTextAtOrAfterTheWatermarkSortsAboveTheBound() {
        let zone = TimeZone(identifier: "Pacific/Pago_Pago")!
        let parser = TimestampParser(timeZone: zone)
        var state: UInt64 = 42
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33)
        }
        func two(_ n: Int) -> String { String(n).leftPadded(2) }
        var checked = 0
        for _ in 0..<20_000 {
            let from = Date(timeIntervalSince1970: Double(1_700_000_000 + next() % 200_000_000) + Double(next() % 1000) / 1000)
            // An instant at or just after `from`: often exactly on it, or on a whole minute or day.
            var instant = from.addingTimeInterval(Double(next() % 4 == 0 ? 0 : next() % 172_800))
            if next() % 3 == 0 { instant = Date(timeIntervalSince1970: (instant.timeIntervalSince1970 / 60).rounded(.up) * 60) }
            let offsetMinutes = next() % 3 == 0 ? 0 : (next() % 2879) - 1439  // −23:59 … +23:59
            let naive = next() % 4 == 0
            let shift = naive ? zone.secondsFromGMT(for: instant) : offsetMinutes * 60
            let local = UTCTimestamp.format(instant.addingTimeInterval(TimeInterval(shift)))  // yyyy-MM-ddTHH:mm:ssZ
            let date = String(local.prefix(10))
            let time = String(local.dropFirst(11).prefix(8))
            let fraction = instant.timeIntervalSince1970 - instant.timeIntervalSince1970.rounded(.down)
            var text = date
            if time != "00:00:00" || next() % 2 == 0 {
                text += next() % 2 == 0 ? "T" : " "
                text += time.hasSuffix(":00") && fraction == 0 && next() % 2 == 0 ? String(time.prefix(5)) : time
                if fraction > 0 { text += "." + String(Int((fraction * 1000).rounded())).leftPadded(3) }
            }
            if !naive { text += offsetMinutes == 0 && next() % 2 == 0 ? "Z" : (offsetMinutes < 0 ? "-" : "+") + two(abs(offsetMinutes) / 60) + ":" + two(abs(offsetMinutes) % 60) }
            // Only texts that really name an instant at or after `from` must pass the bound.
            guard case .success(let parsed?) = parser.parse(.text(text)), parsed >= from else { continue }
            checked += 1
            let bound = QueryBuilder.sqliteTextBound(from: from)
            #expect(!Array(text.utf8).lexicographicallyPrecedes(Array(bound.utf8)), "\(text) sorts below \(bound) for \(from)")
        }
        #expect(checked > 10_000)
    }
}
