import Foundation

/// UTC ISO 8601 text ("2026-03-02T03:30:00Z") in the proleptic Gregorian calendar, for any instant. Foundation's
/// formatters switch to the Julian calendar before 1582 and are slow to create; this is neither.
public enum UTCTimestamp {
    public static func format(_ date: Date) -> String {
        guard date.timeIntervalSince1970.isFinite, abs(date.timeIntervalSince1970) < 1e14 else { return "\(date.timeIntervalSince1970)" }
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let rest = seconds - days * 86_400
        let day = LocalDate(daysSinceEpoch: days)
        guard (0...9999).contains(day.year) else {
            let time = [rest / 3600, rest % 3600 / 60, rest % 60].map { String($0).leftPadded(2) }.joined(separator: ":")
            return "\(day)T\(time)Z"
        }
        // Four-digit years, the usual case: the 20 bytes written in place (simulate formats two per notice).
        return String(unsafeUninitializedCapacity: 20) { bytes in
            func put(_ value: Int, _ width: Int, at end: Int) {
                var value = value
                for index in stride(from: end - 1, through: end - width, by: -1) {
                    bytes[index] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
            }
            put(day.year, 4, at: 4)
            put(day.month, 2, at: 7)
            put(day.day, 2, at: 10)
            put(rest / 3600, 2, at: 13)
            put(rest % 3600 / 60, 2, at: 16)
            put(rest % 60, 2, at: 19)
            for (index, mark) in [(4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":"), (19, "Z")] as [(Int, Unicode.Scalar)] {
                bytes[index] = UInt8(ascii: mark)
            }
            return 20
        }
    }

    /// ISO 8601 with the zone's offset at that instant (`2026-03-02T09:30:00+08:00`; `Z` when the offset is 0).
    public static func format(_ date: Date, offsetIn zone: TimeZone) -> String {
        format(date, offset: zone.secondsFromGMT(for: date))
    }

    /// ISO 8601 at a given offset from UTC in seconds (`Z` when it is 0).
    public static func format(_ date: Date, offset: Int) -> String {
        let text = format(date.addingTimeInterval(TimeInterval(offset)))
        guard offset != 0 else { return text }
        let sign = offset < 0 ? "-" : "+"
        return text.dropLast() + "\(sign)\(String(abs(offset) / 3600).leftPadded(2)):\(String(abs(offset) % 3600 / 60).leftPadded(2))"
    }
}
