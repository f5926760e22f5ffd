@testable import EscalatorCore
import Foundation
import Testing

/// The precomputed table (`CalendarTable`) must give exactly the answers the time zone itself gives. Each case
/// builds one calendar whose table covers the instants asked about and one whose table is decades away (so it
/// asks the zone every time), then compares every operation on a few thousand seeded random instants, spans and
/// pauses, including instants on both sides of the table's edges.
@Suite struct CalendarTableTests {
    struct Zone: CustomStringConvertible, Sendable {
        let identifier: String
        let hours: String
        var description: String { "\(identifier) \(hours)" }
    }

    @Test(arguments: [
        Zone(identifier: "America/New_York", hours: "09:00-17:00"),
        Zone(identifier: "Europe/Berlin", hours: "08:00-12:00, 13:00-17:00"),
        // DST changes at midnight: local days start at 01:00 or repeat an hour.
        Zone(identifier: "America/Santiago", hours: "00:00-02:00, 08:00-24:00"),
        Zone(identifier: "Asia/Beirut", hours: "00:00-24:00"),
        // Half-hour DST.
        Zone(identifier: "Australia/Lord_Howe", hours: "01:30-03:00, 09:00-17:30"),
        Zone(identifier: "Asia/Kolkata", hours: "09:30-18:00"),
        Zone(identifier: "Europe/London", hours: "00:30-02:30, 22:00-24:00"),
    ])
    func theTableGivesTheZonesOwnAnswers(zone: Zone) throws {
        let timeZone = try #require(TimeZone(identifier: zone.identifier))
        let weekly = Array(repeating: hours(zone.hours), count: 5) + [hours("10:00-14:00"), []]
        let holidays: Set<LocalDate> = ["2026-12-25", "2027-01-01", "2029-12-31", "2030-01-01", "2023-01-02"].map { LocalDate(iso: $0)! }.reduce(into: []) { $0.insert($1) }
        let centre = Date(timeIntervalSince1970: 1_780_000_000)  // 2026-05-28: the table covers 2023 to 2029
        let tabled = BusinessCalendar(name: "t", timeZone: timeZone, weekly: weekly, holidays: holidays, tableCentre: centre)
        let zoned = BusinessCalendar(name: "z", timeZone: timeZone, weekly: weekly, holidays: holidays, tableCentre: Date(timeIntervalSince1970: 0))
        #expect(tabled.hasTable)

        var random = SplitMix64(state: UInt64(zone.identifier.utf8.reduce(7) { $0 &* 31 &+ UInt64($1) }))
        // 2022-07 to 2030-06: the table's first and last days and beyond on both sides.
        let low = 1_656_633_600.0
        let high = 1_909_008_000.0
        func instant() -> Date {
            // Whole minutes mostly, as data has; some with seconds and fractions.
            let raw = low + Double(random.next() % UInt64(high - low))
            switch random.next() % 4 {
            case 0: return Date(timeIntervalSince1970: raw + 0.25)
            case 1: return Date(timeIntervalSince1970: raw)
            default: return Date(timeIntervalSince1970: (raw / 60).rounded(.down) * 60)
            }
        }
        let spans = ["1 business hours", "4 business hours", "90 business minutes", "1 business day", "3 business days", "20 business days", "2h", "3d"]
            .map { try! Span.parse($0).get() }
        // Every half hour over two weeks: the opening and closing times themselves, which random instants
        // rarely hit (an instant at a closing time, or a time of day that is one on another weekday).
        for step in 0..<(14 * 48) {
            let a = Date(timeIntervalSince1970: 1_781_049_600 + Double(step * 1800))  // from 2026-06-10
            for span in spans {
                #expect(tabled.advance(a, by: span) == zoned.advance(a, by: span), "advance \(a) by \(span)")
            }
            #expect(tabled.nextOpening(atOrAfter: a) == zoned.nextOpening(atOrAfter: a), "nextOpening \(a)")
        }
        for _ in 0..<1500 {
            let a = instant()
            let b = a.addingTimeInterval(Double(random.next() % (90 * 86_400)))
            #expect(tabled.localDate(of: a) == zoned.localDate(of: a), "localDate \(a)")
            #expect(tabled.isOpen(at: a) == zoned.isOpen(at: a), "isOpen \(a)")
            #expect(tabled.nextOpening(atOrAfter: a) == zoned.nextOpening(atOrAfter: a), "nextOpening \(a)")
            #expect(tabled.businessSeconds(from: a, to: b) == zoned.businessSeconds(from: a, to: b), "businessSeconds \(a) \(b)")
            let pauseStart = a.addingTimeInterval(Double(random.next() % (10 * 86_400)))
            let pauses = [
                BusinessCalendar.Pause(start: pauseStart, end: pauseStart.addingTimeInterval(Double(random.next() % (5 * 86_400)))),
                BusinessCalendar.Pause(start: pauseStart.addingTimeInterval(8 * 86_400), end: random.next() % 3 == 0 ? nil : pauseStart.addingTimeInterval(9 * 86_400)),
                // Overlapping the first, and listed out of order.
                BusinessCalendar.Pause(start: pauseStart.addingTimeInterval(Double(random.next() % (3 * 86_400))), end: pauseStart.addingTimeInterval(Double(3 * 86_400 + random.next() % (4 * 86_400)))),
                BusinessCalendar.Pause(start: a.addingTimeInterval(-86_400), end: a.addingTimeInterval(Double(random.next() % 86_400))),
            ]
            #expect(tabled.businessSeconds(from: a, to: b, excluding: pauses) == zoned.businessSeconds(from: a, to: b, excluding: pauses), "paused \(a) \(b)")
            let seconds = Double(random.next() % (40 * 3600))
            #expect(tabled.adding(seconds: seconds, to: a) == zoned.adding(seconds: seconds, to: a), "adding \(seconds) to \(a)")
            #expect(tabled.adding(seconds: seconds, to: a, excluding: pauses) == zoned.adding(seconds: seconds, to: a, excluding: pauses))
            #expect(tabled.subtracting(seconds: seconds, from: a) == zoned.subtracting(seconds: seconds, from: a), "subtracting \(seconds) from \(a)")
            let span = spans[Int(random.next() % UInt64(spans.count))]
            #expect(tabled.advance(a, by: span) == zoned.advance(a, by: span), "advance \(a) by \(span)")
            #expect(tabled.advance(a, by: span, excluding: pauses) == zoned.advance(a, by: span, excluding: pauses), "advance paused \(a) by \(span)")
            #expect(tabled.retreat(a, by: span) == zoned.retreat(a, by: span), "retreat \(a) by \(span)")
        }
    }

    @Test func aTwentyFourSevenCalendarHasNoTable() {
        #expect(!BusinessCalendar.alwaysOpen().hasTable)
    }
}
