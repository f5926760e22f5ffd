import EscalatorCore
import Foundation
import Testing

/// New York office: Mon–Fri 09:00–17:00. DST starts 2026-03-08 and ends 2026-11-01.
let newYork = BusinessCalendar(
    name: "ny", timeZone: TimeZone(identifier: "America/New_York")!,
    weekly: Array(repeating: hours("09:00-17:00"), count: 5) + [[], []],
    holidays: [LocalDate(iso: "2026-12-25")!, LocalDate(iso: "2027-01-01")!])

/// Berlin office with a lunch break: Mon–Fri 08:00–12:00 and 13:00–17:00. DST 2026-03-29 and 2026-10-25.
let berlin = BusinessCalendar(
    name: "berlin", timeZone: TimeZone(identifier: "Europe/Berlin")!,
    weekly: Array(repeating: hours("08:00-12:00, 13:00-17:00"), count: 5) + [[], []],
    holidays: Set(["2026-12-24", "2026-12-25", "2026-12-31", "2027-01-01"].map { LocalDate(iso: $0)! }))

@Suite struct BusinessCalendarTests {
    struct Row: CustomStringConvertible, Sendable {
        let calendar: String
        let start: String
        let span: String
        let expected: String
        let why: String
        var description: String { "\(calendar) \(start) + \(span): \(why)" }
    }

    static func calendar(_ name: String) -> (BusinessCalendar, String) {
        switch name {
        case "ny": return (newYork, "America/New_York")
        case "berlin": return (berlin, "Europe/Berlin")
        case "manila": return (storeHours, "Asia/Manila")
        default: return (.alwaysOpen(timeZone: TimeZone(identifier: "America/New_York")!), "America/New_York")
        }
    }

    /// Adding spans: the expected instant is given as local wall time in the calendar's zone.
    @Test(arguments: [
        Row(calendar: "ny", start: "2026-03-06 16:00", span: "2 business hours", expected: "2026-03-09 10:00", why: "spring forward over the weekend"),
        Row(calendar: "ny", start: "2026-03-06 12:00", span: "1 business day", expected: "2026-03-09 12:00", why: "same local time after the jump"),
        Row(calendar: "ny", start: "2026-10-30 16:00", span: "1 business day", expected: "2026-11-02 16:00", why: "fall back over the weekend"),
        Row(calendar: "ny", start: "2026-10-30 16:30", span: "1 business hours", expected: "2026-11-02 09:30", why: "fall back, hours"),
        Row(calendar: "ny", start: "2026-03-07 10:00", span: "1 business hours", expected: "2026-03-09 10:00", why: "starts on a closed day"),
        Row(calendar: "ny", start: "2026-12-24 15:00", span: "3 business hours", expected: "2026-12-28 10:00", why: "Christmas holiday"),
        Row(calendar: "ny", start: "2026-12-31 16:00", span: "2 business hours", expected: "2027-01-04 10:00", why: "year end and New Year holiday"),
        Row(calendar: "ny", start: "2026-12-31 16:00", span: "1 business day", expected: "2027-01-04 16:00", why: "business day over the year end"),
        Row(calendar: "berlin", start: "2026-03-27 16:00", span: "4 business hours", expected: "2026-03-30 11:00", why: "spring forward"),
        Row(calendar: "berlin", start: "2026-10-23 11:30", span: "1 business hours", expected: "2026-10-23 13:30", why: "lunch break is not counted"),
        Row(calendar: "berlin", start: "2026-10-23 16:00", span: "2 business days", expected: "2026-10-27 16:00", why: "fall back"),
        Row(calendar: "berlin", start: "2026-12-23 16:00", span: "2 business days", expected: "2026-12-29 16:00", why: "Christmas holidays and weekend"),
        Row(calendar: "berlin", start: "2026-12-30 15:00", span: "8 business hours", expected: "2027-01-04 15:00", why: "two holidays and a weekend at the year end"),
        Row(calendar: "berlin", start: "2026-10-23 12:30", span: "1 business day", expected: "2026-10-26 13:00", why: "a start in the lunch break rolls to 13:00"),
        Row(calendar: "manila", start: "2026-03-06 16:00", span: "1 business day", expected: "2026-03-07 12:00", why: "Saturday closes at noon: held at closing"),
        Row(calendar: "manila", start: "2026-03-07 11:00", span: "2 business hours", expected: "2026-03-09 09:00", why: "one Saturday hour, then Monday"),
        Row(calendar: "manila", start: "2026-04-01 16:00", span: "2 business hours", expected: "2026-04-04 10:00", why: "Maundy Thursday and Good Friday"),
        Row(calendar: "24x7", start: "2026-03-07 12:00", span: "1d", expected: "2026-03-08 13:00", why: "wall day is 24 elapsed hours"),
        Row(calendar: "24x7", start: "2026-03-07 12:00", span: "1 business day", expected: "2026-03-08 12:00", why: "calendar day keeps local time"),
    ])
    func advance(row: Row) throws {
        let (calendar, zone) = Self.calendar(row.calendar)
        let span = try Span.parse(row.span).get()
        #expect(local(calendar.advance(at(row.start, zone), by: span), zone) == row.expected)
    }

    /// Retreating is the mirror image (used for warn_before).
    @Test(arguments: [
        Row(calendar: "ny", start: "2026-03-09 10:00", span: "2 business hours", expected: "2026-03-06 16:00", why: "back over spring forward"),
        Row(calendar: "ny", start: "2027-01-04 16:00", span: "1 business day", expected: "2026-12-31 16:00", why: "back over the year end"),
        Row(calendar: "berlin", start: "2026-10-23 13:30", span: "1 business hours", expected: "2026-10-23 11:30", why: "back over lunch"),
        Row(calendar: "berlin", start: "2026-12-29 16:00", span: "2 business days", expected: "2026-12-23 16:00", why: "back over Christmas"),
        Row(calendar: "manila", start: "2026-03-09 08:00", span: "1 business day", expected: "2026-03-07 09:00", why: "from Monday opening to Saturday opening"),
    ])
    func retreat(row: Row) throws {
        let (calendar, zone) = Self.calendar(row.calendar)
        let span = try Span.parse(row.span).get()
        #expect(local(calendar.retreat(at(row.start, zone), by: span), zone) == row.expected)
    }

    @Test func measuresWorkingTimeAcrossDSTHolidaysAndYearEnd() {
        let ny = "America/New_York"
        // Fri 09:00 EST to Mon 17:00 EDT: two full days, although the wall clock lost an hour.
        #expect(newYork.businessSeconds(from: at("2026-03-06 09:00", ny), to: at("2026-03-09 17:00", ny)) == 16 * 3600)
        #expect(newYork.businessSeconds(from: at("2026-10-30 09:00", ny), to: at("2026-11-02 17:00", ny)) == 16 * 3600)
        // Over Christmas and New Year: Dec 24, 28–31 and Jan 4 are working days.
        #expect(newYork.businessSeconds(from: at("2026-12-24 09:00", ny), to: at("2027-01-04 17:00", ny)) == 6 * 8 * 3600)
        let be = "Europe/Berlin"
        #expect(berlin.businessSeconds(from: at("2026-03-27 08:00", be), to: at("2026-03-30 17:00", be)) == 16 * 3600)
        #expect(berlin.businessSeconds(from: at("2026-10-23 11:00", be), to: at("2026-10-23 14:00", be)) == 2 * 3600)
        #expect(berlin.businessSeconds(from: at("2026-12-30 15:00", be), to: at("2027-01-04 15:00", be)) == 8 * 3600)
        // Backwards or empty intervals have no working time.
        #expect(berlin.businessSeconds(from: at("2026-10-23 14:00", be), to: at("2026-10-23 11:00", be)) == 0)
        // 24x7 counts the real elapsed time: the spring-forward day has 23 hours.
        let always = BusinessCalendar.alwaysOpen(timeZone: TimeZone(identifier: ny)!)
        #expect(always.businessSeconds(from: at("2026-03-08 00:00", ny), to: at("2026-03-09 00:00", ny)) == 23 * 3600)
    }

    @Test func addAndMeasureAgree() {
        // For any start and amount, measuring from the start to (start + amount) gives the amount back.
        let starts = ["2026-03-06 16:59", "2026-03-08 03:30", "2026-10-31 23:00", "2026-12-24 12:00", "2026-12-31 23:59"]
        for start in starts {
            for seconds: TimeInterval in [1, 59, 3600, 8 * 3600, 40 * 3600, 500 * 3600] {
                let begin = at(start, "America/New_York")
                let end = newYork.adding(seconds: seconds, to: begin)!
                #expect(newYork.businessSeconds(from: begin, to: end) == seconds, "\(start) + \(seconds)s")
                #expect(newYork.subtracting(seconds: seconds, from: end).map { newYork.businessSeconds(from: $0, to: end) } == seconds)
            }
        }
    }

    @Test func opensAndCloses() {
        let ny = "America/New_York"
        #expect(newYork.isOpen(at: at("2026-03-09 09:00", ny)))
        #expect(!newYork.isOpen(at: at("2026-03-09 17:00", ny)))  // closing time itself is closed
        #expect(!newYork.isOpen(at: at("2026-12-25 12:00", ny)))
        #expect(local(newYork.nextOpening(atOrAfter: at("2026-12-24 17:00", ny)), ny) == "2026-12-28 09:00")
        #expect(local(newYork.nextOpening(atOrAfter: at("2026-12-24 10:15", ny)), ny) == "2026-12-24 10:15")
        #expect(local(berlin.nextOpening(atOrAfter: at("2026-10-23 12:10", "Europe/Berlin")), "Europe/Berlin") == "2026-10-23 13:00")
    }

    @Test func pausesAreNotCounted() {
        // Paused 10:00–14:00 on Monday: 2 business hours from 09:00 end at 15:00, not 11:00.
        let start = at("2026-03-09 09:00")
        let pause = BusinessCalendar.Pause(start: at("2026-03-09 10:00"), end: at("2026-03-09 14:00"))
        #expect(local(storeHours.adding(seconds: 7200, to: start, excluding: [pause])) == "2026-03-09 15:00")
        #expect(storeHours.businessSeconds(from: start, to: at("2026-03-09 15:00"), excluding: [pause]) == 7200)
        // An open-ended pause means the time never completes.
        let forever = BusinessCalendar.Pause(start: at("2026-03-09 10:00"), end: nil)
        #expect(storeHours.adding(seconds: 7200, to: start, excluding: [forever]) == nil)
        #expect(local(storeHours.adding(seconds: 1800, to: start, excluding: [forever])) == "2026-03-09 09:30")
    }

    @Test func aCalendarWithoutWorkingTimeGivesUpInsteadOfLooping() {
        let never = BusinessCalendar(name: "never", timeZone: TimeZone(identifier: "UTC")!, weekly: Array(repeating: [], count: 7))
        #expect(never.nextOpening(atOrAfter: utc("2026-01-01T00:00:00Z")) == nil)
        #expect(never.adding(seconds: 60, to: utc("2026-01-01T00:00:00Z")) == nil)
    }
}
