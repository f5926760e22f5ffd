import EscalatorCore
import Testing

@Suite struct ICalendarTests {
    @Test func readsAllDayEventsRangesAndYearlyRepeats() {
        let text = """
            BEGIN:VCALENDAR\r
            BEGIN:VEVENT\r
            DTSTART;VALUE=DATE:20261224\r
            DTEND;VALUE=DATE:20261227\r
            SUMMARY:Christmas\r
             break\r
            END:VEVENT\r
            BEGIN:VEVENT\r
            DTSTART;VALUE=DATE:20260101\r
            RRULE:FREQ=YEARLY;COUNT=3\r
            END:VEVENT\r
            BEGIN:VEVENT\r
            DTSTART:20260315T090000Z\r
            DTEND:20260315T100000Z\r
            SUMMARY:Meeting\r
            END:VEVENT\r
            BEGIN:VEVENT\r
            DTSTART;VALUE=DATE:20280229\r
            RRULE:FREQ=YEARLY;UNTIL=20370101\r
            END:VEVENT\r
            END:VCALENDAR\r
            """
        let read = BusinessCalendar.holidays(fromICalendar: text, throughYear: 2040)
        let dates = Set(read.dates.map(\.description))
        #expect(dates.isSuperset(of: ["2026-12-24", "2026-12-25", "2026-12-26"]))
        #expect(!dates.contains("2026-12-27"))  // DTEND is exclusive
        #expect(dates.isSuperset(of: ["2026-01-01", "2027-01-01", "2028-01-01"]))
        #expect(!dates.contains("2029-01-01"))  // COUNT=3
        #expect(dates.isSuperset(of: ["2028-02-29", "2032-02-29", "2036-02-29"]))  // leap days only
        #expect(!dates.contains("2040-02-29"))  // UNTIL
        #expect(!dates.contains("2026-03-15"))
        #expect(read.warnings.map(\.line) == [12])  // the BEGIN:VEVENT of the timed event
        #expect(read.warnings.first?.message == "event with a time of day is not an all-day holiday; skipped")
    }
}
