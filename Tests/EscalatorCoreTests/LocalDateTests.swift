import EscalatorCore
import Testing

@Suite struct LocalDateTests {
    @Test func parsesOnlyRealDates() {
        #expect(LocalDate(iso: "2026-12-25") == LocalDate(year: 2026, month: 12, day: 25))
        #expect(LocalDate(iso: "2028-02-29") != nil)
        #expect(LocalDate(iso: "2026-02-29") == nil)
        #expect(LocalDate(iso: "2026-13-01") == nil)
        #expect(LocalDate(iso: "2026-1-01") == nil)
        #expect(LocalDate(basic: "20261225") == LocalDate(year: 2026, month: 12, day: 25))
    }

    @Test func weekdaysAndArithmeticAcrossYearsAndLeapDays() {
        #expect(LocalDate(iso: "2026-03-02")!.weekday == 0)  // Monday: Day 1 of the demo story
        #expect(LocalDate(iso: "1970-01-01")!.weekday == 3)  // Thursday
        #expect(LocalDate(iso: "2026-12-31")!.adding(days: 1) == LocalDate(iso: "2027-01-01"))
        #expect(LocalDate(iso: "2028-02-28")!.adding(days: 1) == LocalDate(iso: "2028-02-29"))
        #expect(LocalDate(iso: "2100-02-28")!.adding(days: 1) == LocalDate(iso: "2100-03-01"))
        #expect(LocalDate(iso: "2027-01-01")!.adding(days: -1) == LocalDate(iso: "2026-12-31"))
        for days in [-800_000, -1, 0, 1, 19_000, 2_932_896] {
            #expect(LocalDate(daysSinceEpoch: days).daysSinceEpoch == days)
        }
    }
}
