extension BusinessCalendar {
    /// Holidays read from an iCalendar (RFC 5545) text.
    public struct ICalendarHolidays: Sendable, Equatable {
        public var dates: Set<LocalDate> = []
        /// Problems that did not stop the read, each with the 1-based line of the text.
        public var warnings: [(line: Int, message: String)] = []

        public static func == (lhs: Self, rhs: Self) -> Bool {
            lhs.dates == rhs.dates && lhs.warnings.map { "\($0.line):\($0.message)" } == rhs.warnings.map { "\($0.line):\($0.message)" }
        }
    }

    /// Reads the all-day VEVENTs of an iCalendar text as holidays.
    ///
    /// `DTSTART;VALUE=DATE` starts an event, `DTEND;VALUE=DATE` (exclusive) may extend it over several days, and
    /// `RRULE:FREQ=YEARLY` (with optional `COUNT` or `UNTIL`) repeats it, expanded up to `throughYear`.
    /// Events with a time of day are not holidays and are reported as warnings.
    public static func holidays(fromICalendar text: String, throughYear: Int) -> ICalendarHolidays {
        var result = ICalendarHolidays()
        // Unfold continuation lines (RFC 5545 §3.1): a line starting with a space or tab continues the previous one.
        var lines: [(number: Int, text: String)] = []
        // Split on scalars: Swift reads "\r\n" as one Character, so a Character split would miss it.
        for (index, raw) in text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = String(String.UnicodeScalarView(raw))
            if line.unicodeScalars.last == "\r" { line.unicodeScalars.removeLast() }
            if let first = line.first, first == " " || first == "\t", !lines.isEmpty {
                lines[lines.count - 1].text += line.dropFirst()
            } else {
                lines.append((index + 1, line))
            }
        }

        var inEvent = false
        var eventLine = 0
        var start: LocalDate?
        var end: LocalDate?
        var timed = false
        var rule: [String: String]?
        for (number, line) in lines {
            let upper = line.uppercased()
            if upper == "BEGIN:VEVENT" {
                inEvent = true
                eventLine = number
                start = nil
                end = nil
                timed = false
                rule = nil
                continue
            }
            guard inEvent else { continue }
            if upper == "END:VEVENT" {
                inEvent = false
                if timed {
                    result.warnings.append((eventLine, "event with a time of day is not an all-day holiday; skipped"))
                    continue
                }
                guard let start else {
                    result.warnings.append((eventLine, "VEVENT without a DTSTART date; skipped"))
                    continue
                }
                let length = max(1, (end?.daysSinceEpoch ?? start.daysSinceEpoch + 1) - start.daysSinceEpoch)
                var occurrences = [start]
                if let rule {
                    if rule["FREQ"] != "YEARLY" {
                        result.warnings.append((eventLine, "only FREQ=YEARLY repeats are supported; the event is used once"))
                    } else {
                        let count = rule["COUNT"].flatMap(Int.init) ?? Int.max
                        let until = rule["UNTIL"].flatMap { LocalDate(basic: $0.prefix(8)) }
                        var year = start.year + 1
                        while year <= throughYear, occurrences.count < count {
                            // 29 February repeats only in leap years.
                            if let next = LocalDate(iso: "\(String(year).leftPadded(4))-\(String(start.month).leftPadded(2))-\(String(start.day).leftPadded(2))") {
                                if let until, next > until { break }
                                occurrences.append(next)
                            }
                            year += 1
                        }
                    }
                }
                for first in occurrences {
                    for offset in 0..<min(length, 366) { result.dates.insert(first.adding(days: offset)) }
                }
                continue
            }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let head = line[..<colon].uppercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            let name = head.split(separator: ";").first.map(String.init) ?? head
            switch name {
            case "DTSTART", "DTEND":
                if value.count > 8 || head.contains("VALUE=DATE-TIME") {
                    timed = true
                    continue
                }
                guard let date = LocalDate(basic: value) else {
                    result.warnings.append((number, "\(name) \"\(value)\" is not a date (YYYYMMDD)"))
                    continue
                }
                if name == "DTSTART" { start = date } else { end = date }
            case "RRULE":
                var parts: [String: String] = [:]
                for pair in value.split(separator: ";") {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    if kv.count == 2 { parts[kv[0].uppercased()] = String(kv[1]).uppercased() }
                }
                rule = parts
            default:
                continue
            }
        }
        return result
    }
}
