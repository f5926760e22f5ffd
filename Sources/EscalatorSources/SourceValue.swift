import EscalatorCore
import Foundation

/// One cell of a source row, whatever the database: both drivers turn their values into this.
public enum SourceValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case date(Date)
    case bytes(Int)

    public var isNull: Bool { self == .null }

    /// The value as text, for ids, names and other string fields.
    public var text: String? {
        switch self {
        case .null: return nil
        case .integer(let value): return String(value)
        case .real(let value): return value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        case .text(let value): return value
        case .date(let value): return ISO8601DateFormatter().string(from: value)
        case .bytes: return nil
        }
    }
}

/// Reads timestamps as databases store them: ISO 8601 text (with or without a zone, `T` or space), SQLite's
/// datetime text, Unix seconds (integer or real), or a native timestamp.
public struct TimestampParser: Sendable {
    /// The zone assumed for text without one.
    public let timeZone: TimeZone
    /// Earliest and latest accepted instants: anything outside is a bad value, not a date.
    public static let earliest = Date(timeIntervalSince1970: 0)  // 1970-01-01
    public static let latest = Date(timeIntervalSince1970: 32_503_680_000)  // 3000-01-01

    public init(timeZone: TimeZone) { self.timeZone = timeZone }

    public enum Failure: Error, Equatable {
        case unparsable(String)
        case outOfRange(String)
        case wrongType(String)
    }

    public func parse(_ value: SourceValue) -> Result<Date?, Failure> {
        let date: Date
        switch value {
        case .null: return .success(nil)
        case .date(let d): date = d
        case .integer(let seconds): date = Date(timeIntervalSince1970: TimeInterval(seconds))
        case .real(let seconds):
            guard seconds.isFinite, abs(seconds) < 1e14 else { return .failure(.outOfRange("\(seconds)")) }
            date = Date(timeIntervalSince1970: seconds)
        case .text(let text):
            let trimmed = text.trimmedOfWhitespace
            if trimmed.isEmpty { return .success(nil) }
            // "YYYY-…" is a date, not a number: most time values are, and need no attempt at reading a number.
            let looksLikeDate = trimmed.utf8.count >= 10 && trimmed.utf8.dropFirst(4).first == UInt8(ascii: "-")
            if !looksLikeDate, let seconds = Double(trimmed), trimmed.allSatisfy({ $0.isNumber || $0 == "." || $0 == "-" }) {
                return parse(.real(seconds))
            }
            guard let parsed = parseText(trimmed) else {
                return .failure(.unparsable(String(trimmed.prefix(64))))
            }
            date = parsed
        case .bytes: return .failure(.wrongType("binary data"))
        }
        guard date >= Self.earliest, date < Self.latest else {
            return .failure(.outOfRange(Self.format(date)))
        }
        return .success(date)
    }

    /// UTC ISO 8601 in the proleptic Gregorian calendar, for any instant (Foundation's formatter switches to the
    /// Julian calendar before 1582).
    public static func format(_ date: Date) -> String { UTCTimestamp.format(date) }

    /// "2026-03-02T11:30:00Z", "2026-03-02 11:30:00.123+08:00", "2026-03-02 11:30", "2026-03-02".
    func parseText(_ text: String) -> Date? {
        var text = text
        return text.withUTF8(parse)
    }

    private func parse(_ chars: UnsafeBufferPointer<UInt8>) -> Date? {
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= chars.count else { return nil }
            var value = 0
            for byte in chars[from..<from + count] {
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard chars.count >= 10, let year = number(0, 4), chars[4] == 45, let month = number(5, 2), chars[7] == 45,
            let day = number(8, 2), (1...12).contains(month), day >= 1, day <= 31
        else { return nil }
        var hour = 0
        var minute = 0
        var second = 0.0
        var index = 10
        if index < chars.count {
            guard chars[index] == 84 || chars[index] == 32, let h = number(index + 1, 2), chars.count > index + 5,
                chars[index + 3] == 58, let m = number(index + 4, 2), h < 24, m < 60
            else { return nil }
            hour = h
            minute = m
            index += 6
            if index < chars.count, chars[index] == 58 {
                guard let s = number(index + 1, 2), s < 61 else { return nil }
                second = Double(s)
                index += 3
                if index < chars.count, chars[index] == 46 || chars[index] == 44 {
                    var digits = 0
                    var fraction = 0.0
                    var scale = 0.1
                    index += 1
                    while index < chars.count, chars[index] >= 48, chars[index] <= 57 {
                        fraction += Double(chars[index] - 48) * scale
                        scale /= 10
                        digits += 1
                        index += 1
                    }
                    guard digits > 0 else { return nil }
                    second += fraction
                }
            }
        }
        var offset: Int?
        if index == chars.count - 1, chars[index] == UInt8(ascii: "Z") {
            offset = 0
        } else if index < chars.count {
            let rest = String(decoding: chars[index...], as: UTF8.self).trimmedOfWhitespace
            if rest == "Z" || rest == "z" || rest.uppercased() == "UTC" {
                offset = 0
            } else if let sign = rest.first, sign == "+" || sign == "-" {
                let digits = rest.dropFirst().filter { $0 != ":" }
                guard digits.count == 2 || digits.count == 4, let value = Int(digits) else { return nil }
                let minutes = digits.count == 2 ? value * 60 : (value / 100) * 60 + value % 100
                offset = (sign == "-" ? -1 : 1) * minutes * 60
            } else {
                return nil
            }
        }
        guard day <= LocalDate.daysIn(month: month, year: year) else { return nil }
        let days = LocalDate(year: year, month: month, day: day).daysSinceEpoch
        let local = Double(days * 86_400 + hour * 3600 + minute * 60) + second
        if let offset { return Date(timeIntervalSince1970: local - Double(offset)) }
        // No zone in the text: read it in the configured zone.
        let guess = local - Double(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: local)))
        return Date(timeIntervalSince1970: local - Double(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: guess))))
    }
}

