import Foundation

/// A length of time as a rule file states it: "4 business hours", "2 business days", "90m", "1h30m".
///
/// A business span counts only the open hours of a calendar; a wall span counts elapsed time.
/// Business days are counted on the calendar (the same local time N working days later), so they
/// are never converted to a fixed number of seconds.
public struct Span: Hashable, Sendable, CustomStringConvertible {
    /// The unit of a span. Wall spans are always stored in seconds.
    public enum Unit: String, Sendable {
        case seconds, minutes, hours, days
    }

    public let amount: Int
    public let unit: Unit
    public let isBusiness: Bool

    public init(_ amount: Int, _ unit: Unit, business: Bool) {
        self.amount = amount
        self.unit = unit
        self.isBusiness = business
    }

    /// A wall-clock span of exactly `seconds` elapsed seconds.
    public static func wall(seconds: Int) -> Span { Span(seconds, .seconds, business: false) }

    public static let zero = Span.wall(seconds: 0)

    public var isZero: Bool { amount == 0 }

    /// The span in seconds when it does not depend on a calendar: wall spans and business hours and minutes.
    /// Business days have no fixed length and return nil.
    public var fixedSeconds: Int? {
        switch unit {
        case .seconds: return amount
        case .minutes: return amount * 60
        case .hours: return amount * 3600
        case .days: return isBusiness ? nil : amount * 86_400
        }
    }

    public var description: String {
        if isBusiness {
            let word = amount == 1 ? String(unit.rawValue.dropLast()) : unit.rawValue
            return "\(amount) business \(word)"
        }
        return Span.formatWall(seconds: fixedSeconds ?? 0)
    }

    /// Formats a number of seconds compactly, e.g. "2d3h", "90m" → "1h30m", "0s".
    public static func formatWall(seconds total: Int) -> String {
        if total == 0 { return "0s" }
        var rest = abs(total)
        var out = total < 0 ? "-" : ""
        for (size, suffix) in [(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")] where rest >= size {
            out += "\(rest / size)\(suffix)"
            rest %= size
        }
        return out
    }
}

extension Span {
    /// Why a text is not a span, with a hint that names what would be accepted.
    public struct ParseError: Error, Equatable, Sendable {
        public let message: String
    }

    private static let unitWords: [(words: [String], unit: Unit)] = [
        (["s", "sec", "secs", "second", "seconds"], .seconds),
        (["m", "min", "mins", "minute", "minutes"], .minutes),
        (["h", "hr", "hrs", "hour", "hours"], .hours),
        (["d", "day", "days"], .days),
    ]

    private static func unit(for word: String) -> Unit? {
        unitWords.first { $0.words.contains(word) }?.unit
    }

    /// Parses "4 business hours", "2 business days", "1 working day", "90m", "3d", "1h30m", "45 minutes" or "0".
    public static func parse(_ text: String) -> Result<Span, ParseError> {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let hint = "expected a number and a unit, such as \"90m\", \"3d\", \"4 business hours\" or \"2 business days\""
        if trimmed.isEmpty { return .failure(ParseError(message: "empty duration: \(hint)")) }
        if trimmed == "0" { return .success(.zero) }
        let words = trimmed.split(separator: " ").map(String.init)

        // "N business UNIT" / "N working UNIT"
        if words.count == 3 {
            guard let amount = Int(words[0]), amount >= 0 else {
                return .failure(ParseError(message: "invalid duration \"\(text)\": \"\(words[0])\" is not a whole number"))
            }
            guard words[1] == "business" || words[1] == "working" else {
                var message = "invalid duration \"\(text)\": expected \"business\" or \"working\" before the unit, found \"\(words[1])\""
                if let guess = Suggest.closest(to: words[1], among: ["business", "working"]) {
                    message += "; did you mean \"\(guess)\"?"
                }
                return .failure(ParseError(message: message))
            }
            if words[2].hasPrefix("week") {
                return .failure(ParseError(message: "invalid duration \"\(text)\": business weeks are ambiguous; use business days"))
            }
            guard let unit = unit(for: words[2]), unit != .seconds else {
                var message = "invalid duration \"\(text)\": the unit of a business span must be minutes, hours or days"
                if let guess = Suggest.closest(to: words[2], among: ["minutes", "hours", "days"]) {
                    message += "; did you mean \"\(guess)\"?"
                }
                return .failure(ParseError(message: message))
            }
            return .success(Span(amount, unit, business: true))
        }

        // "N UNIT" (wall)
        if words.count == 2 {
            guard let amount = Int(words[0]), amount >= 0 else {
                return .failure(ParseError(message: "invalid duration \"\(text)\": \"\(words[0])\" is not a whole number"))
            }
            if words[1] == "business" || words[1] == "working" {
                return .failure(ParseError(message: "invalid duration \"\(text)\": missing the unit after \"\(words[1])\" (minutes, hours or days)"))
            }
            if let seconds = wallSeconds(amount, words[1]) { return .success(.wall(seconds: seconds)) }
            var message = "invalid duration \"\(text)\": unknown unit \"\(words[1])\""
            if let guess = Suggest.closest(to: words[1], among: ["minutes", "hours", "days", "weeks", "seconds"]) {
                message += "; did you mean \"\(guess)\"?"
            }
            return .failure(ParseError(message: message))
        }

        // Compact form: one or more NUMBER+UNIT groups, e.g. "90m", "1h30m", "2w".
        if words.count == 1 {
            if Int(trimmed) != nil {
                return .failure(ParseError(message: "invalid duration \"\(text)\": a unit is required, e.g. \"\(trimmed)m\" or \"\(trimmed) business hours\""))
            }
            if let seconds = compactSeconds(trimmed) { return .success(.wall(seconds: seconds)) }
        }
        return .failure(ParseError(message: "invalid duration \"\(text)\": \(hint)"))
    }

    /// Sums "1h30m"-style groups; nil unless the whole text is such groups.
    private static func compactSeconds(_ text: String) -> Int? {
        let chars = Array(text)
        var index = 0
        var total = 0
        while index < chars.count {
            let numberStart = index
            while index < chars.count, chars[index].isASCII, chars[index].isNumber { index += 1 }
            let unitStart = index
            while index < chars.count, chars[index].isLetter { index += 1 }
            guard let amount = Int(String(chars[numberStart..<unitStart])),
                let seconds = wallSeconds(amount, String(chars[unitStart..<index]))
            else { return nil }
            total += seconds
        }
        return total
    }

    private static func wallSeconds(_ amount: Int, _ word: String) -> Int? {
        if ["w", "week", "weeks"].contains(word) { return amount * 7 * 86_400 }
        guard let unit = unit(for: word) else { return nil }
        return Span(amount, unit, business: false).fixedSeconds
    }
}
