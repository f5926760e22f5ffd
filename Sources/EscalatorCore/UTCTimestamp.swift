import Foundation

/// UTC ISO 8601 text ("2026-03-02T03:30:00Z") in the proleptic Gregorian calendar, for any instant. Foundation's
/// formatters switch to the Julian calendar before 1582 and are slow to create; this is neither.
public enum UTCTimestamp {
    public static func format(_ date: Date) -> String { format(date, offset: 0) }

    /// Appends the instant's text at `offset` seconds from UTC (`Z` when it is 0) as UTF-8. Four-digit years,
    /// the usual case, are written digit by digit with no string made: simulate writes two per notice, millions
    /// in a run.
    public static func append(_ date: Date, offset: Int, to out: inout [UInt8]) {
        let shifted = date.addingTimeInterval(TimeInterval(offset)).timeIntervalSince1970
        guard shifted.isFinite, abs(shifted) < 1e14 else {
            out += withOffset(String(shifted), offset).utf8
            return
        }
        let seconds = Int(shifted.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let rest = seconds - days * 86_400
        let day = LocalDate(daysSinceEpoch: days)
        guard (0...9999).contains(day.year) else {
            let time = [rest / 3600, rest % 3600 / 60, rest % 60].map { String($0).leftPadded(2) }.joined(separator: ":")
            out += withOffset("\(day)T\(time)Z", offset).utf8
            return
        }
        func put(_ value: Int, _ width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                divisor /= 10
            }
        }
        func mark(_ scalar: Unicode.Scalar) { out.append(UInt8(ascii: scalar)) }
        put(day.year, 4)
        mark("-")
        put(day.month, 2)
        mark("-")
        put(day.day, 2)
        mark("T")
        put(rest / 3600, 2)
        mark(":")
        put(rest % 3600 / 60, 2)
        mark(":")
        put(rest % 60, 2)
        guard offset != 0 else { return mark("Z") }
        mark(offset < 0 ? "-" : "+")
        put(abs(offset) / 3600 % 100, 2)
        mark(":")
        put(abs(offset) % 3600 / 60, 2)
    }

    /// UTC text with its `Z` replaced by the offset, for the rare forms not written digit by digit.
    private static func withOffset(_ text: String, _ offset: Int) -> String {
        guard offset != 0 else { return text }
        let sign = offset < 0 ? "-" : "+"
        return text.dropLast() + "\(sign)\(String(abs(offset) / 3600).leftPadded(2)):\(String(abs(offset) % 3600 / 60).leftPadded(2))"
    }

    /// ISO 8601 with the zone's offset at that instant (`2026-03-02T09:30:00+08:00`; `Z` when the offset is 0).
    public static func format(_ date: Date, offsetIn zone: TimeZone) -> String {
        format(date, offset: zone.secondsFromGMT(for: date))
    }

    /// ISO 8601 at a given offset from UTC in seconds (`Z` when it is 0).
    public static func format(_ date: Date, offset: Int) -> String {
        var bytes: [UInt8] = []
        append(date, offset: offset, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}
