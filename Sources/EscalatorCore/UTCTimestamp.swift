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
        let time = [rest / 3600, rest % 3600 / 60, rest % 60].map { String($0).leftPadded(2) }.joined(separator: ":")
        return "\(day)T\(time)Z"
    }

    /// ISO 8601 with the zone's offset at that instant (`2026-03-02T09:30:00+08:00`; `Z` when the offset is 0).
    public static func format(_ date: Date, offsetIn zone: TimeZone) -> String {
        let offset = zone.secondsFromGMT(for: date)
        let text = format(date.addingTimeInterval(TimeInterval(offset)))
        guard offset != 0 else { return text }
        let sign = offset < 0 ? "-" : "+"
        return text.dropLast() + "\(sign)\(String(abs(offset) / 3600).leftPadded(2)):\(String(abs(offset) % 3600 / 60).leftPadded(2))"
    }
}
