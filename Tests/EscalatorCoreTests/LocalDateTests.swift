import EscalatorCore
import Foundation
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

@Suite struct UTCTimestampTests {
    /// The text built in place for four-digit years agrees with one composed from the date's own description and
    /// the time's fields, over seeded random instants from year 0 to 9999 and the edges of that range; years
    /// outside it take the composed path.
    @Test func textAgreesWithTheDateAndTimeFieldsForEveryYear() {
        func composed(_ instant: Double) -> String {
            let seconds = Int(instant.rounded(.down))
            let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
            let rest = seconds - days * 86_400
            let time = [rest / 3600, rest % 3600 / 60, rest % 60].map { String($0).leftPadded(2) }.joined(separator: ":")
            return "\(LocalDate(daysSinceEpoch: days))T\(time)Z"
        }
        let first = -62_167_219_200.0  // 0000-01-01T00:00:00Z
        let last = 253_402_300_799.0  // 9999-12-31T23:59:59Z
        var random = SplitMix64(state: 20_261_126)
        var instants = [first, last, 0, -1, 0.999, 1_772_425_800.5, last + 1, first - 1]
        for _ in 0..<20_000 { instants.append(first + Double(random.next() % UInt64(last - first + 1)) + 0.25) }
        let offsets = [-43_200, -12_600, -1, 3_600, 20_700, 50_400]
        for instant in instants {
            #expect(UTCTimestamp.format(Date(timeIntervalSince1970: instant)) == composed(instant), "\(instant)")
            // At an offset: the local reading, and the offset in place of the Z.
            let offset = offsets[Int(random.next() % UInt64(offsets.count))]
            let sign = offset < 0 ? "-" : "+"
            let suffix = "\(sign)\(String(abs(offset) / 3600).leftPadded(2)):\(String(abs(offset) % 3600 / 60).leftPadded(2))"
            #expect(UTCTimestamp.format(Date(timeIntervalSince1970: instant), offset: offset) == composed(instant + Double(offset)).dropLast() + suffix, "\(instant) \(offset)")
        }
        #expect(UTCTimestamp.format(Date(timeIntervalSince1970: first)) == "0000-01-01T00:00:00Z")
        #expect(UTCTimestamp.format(Date(timeIntervalSince1970: 1_772_425_800)) == "2026-03-02T04:30:00Z")
        #expect(UTCTimestamp.format(Date(timeIntervalSince1970: 1_772_425_800), offset: 28_800) == "2026-03-02T12:30:00+08:00")
        #expect(UTCTimestamp.format(Date(timeIntervalSince1970: 1_772_425_800), offset: -12_600) == "2026-03-02T01:00:00-03:30")
    }
}
