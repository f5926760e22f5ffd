import EscalatorCore
import Foundation

extension RulesBuilder {
    static let builtInCalendar = "24x7"
    static let weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    static let weekdayNames = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    /// Holidays read from iCalendar files repeat (FREQ=YEARLY) up to this year.
    static let holidayHorizonYear = 2100

    func buildCalendars() {
        calendars[Self.builtInCalendar] = .alwaysOpen(name: Self.builtInCalendar)
        for (key, value) in mergedEntries("calendars", noun: "calendar") {
            guard let name = key.scalar else { continue }
            if name == Self.builtInCalendar {
                sink.error(key, "\"\(name)\" is the built-in always-open calendar (UTC); choose another name")
                continue
            }
            guard let mapping = YAMLMapping(value, "calendar \"\(name)\"", sink) else {
                brokenCalendars.insert(name)
                continue
            }
            if let calendar = buildCalendar(name, mapping) { calendars[name] = calendar } else { brokenCalendars.insert(name) }
        }
    }

    private func buildCalendar(_ name: String, _ mapping: YAMLMapping) -> BusinessCalendar? {
        mapping.allowOnly(["timezone", "hours", "holidays", "holidays_ics", "always_open"])
        var zone: TimeZone?
        if let node = mapping.require("timezone"), let id = sink.text(node, "timezone") {
            zone = TimeZone(identifier: id)
            if zone == nil || id.isEmpty {
                var message = "unknown time zone \"\(id)\" (an IANA name such as Asia/Manila)"
                if let guess = Suggest.closest(to: id, among: TimeZone.knownTimeZoneIdentifiers) {
                    message += "; did you mean \"\(guess)\"?"
                }
                sink.error(node, message)
            }
        }
        if let node = mapping["always_open"], sink.bool(node, "always_open") == true {
            if let hours = mapping.keyNode("hours") {
                sink.error(hours, "calendar \"\(name)\" is always_open; it cannot also have hours")
            }
            return zone.map { BusinessCalendar.alwaysOpen(name: name, timeZone: $0) }
        }

        var weekly: [[BusinessCalendar.TimeRange]] = Array(repeating: [], count: 7)
        var hoursOK = true
        if let hours = mapping.require("hours"), let days = YAMLMapping(hours, "hours of calendar \"\(name)\"", sink) {
            var assigned: [Int: YAMLNode] = [:]
            for (key, value) in days.entries {
                guard let spec = sink.text(key, "a weekday") else {
                    hoursOK = false
                    continue
                }
                guard let indices = parseWeekdays(spec, key) else {
                    hoursOK = false
                    continue
                }
                guard let ranges = parseRanges(value) else {
                    hoursOK = false
                    continue
                }
                for day in indices {
                    if let earlier = assigned[day] {
                        sink.error(key, "\(Self.weekdays[day]) already has hours at \(location(earlier))")
                        hoursOK = false
                    }
                    assigned[day] = key
                    weekly[day] = ranges
                }
            }
            if hoursOK, weekly.allSatisfy(\.isEmpty) {
                sink.error(hours, "calendar \"\(name)\" has no working hours on any day")
                hoursOK = false
            }
        } else {
            hoursOK = false
        }

        var holidays: Set<LocalDate> = []
        if let node = mapping["holidays"], !node.isNull, let items = sink.list(node, "holidays") {
            for item in items {
                guard let text = sink.text(item, "a holiday") else { continue }
                if let date = LocalDate(iso: text) {
                    holidays.insert(date)
                } else {
                    sink.error(item, "holiday \"\(text)\" is not a date (YYYY-MM-DD)")
                }
            }
        }
        if let node = mapping["holidays_ics"], let path = sink.text(node, "holidays_ics") {
            let full = path.hasPrefix("/") ? path : "\(directory)/\(path)"
            if let data = files.contents(atPath: full), let text = String(data: data, encoding: .utf8) {
                let read = BusinessCalendar.holidays(fromICalendar: text, throughYear: Self.holidayHorizonYear)
                holidays.formUnion(read.dates)
                for warning in read.warnings {
                    sink.add(Diagnostic(.warning, file: full, line: warning.line, column: 1, message: warning.message))
                }
                if read.dates.isEmpty {
                    sink.warning(node, "\(full) holds no all-day events, so it adds no holidays")
                }
            } else {
                sink.error(node, "cannot read the iCalendar file \(full)")
            }
        }
        guard let zone, hoursOK else { return nil }
        return BusinessCalendar(name: name, timeZone: zone, weekly: weekly, holidays: holidays)
    }

    /// "mon-fri", "sat", "sat,sun", "monday" → ISO weekday indices.
    private func parseWeekdays(_ spec: String, _ node: YAMLNode) -> [Int]? {
        var out: [Int] = []
        func index(_ word: String) -> Int? {
            let w = word.trimmingCharacters(in: .whitespaces).lowercased()
            return Self.weekdays.firstIndex(of: w) ?? Self.weekdayNames.firstIndex(of: w)
        }
        for part in spec.split(separator: ",") {
            let ends = part.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
            guard (1...2).contains(ends.count), let first = index(ends[0]), let last = index(ends.last!) else {
                var message = "\"\(spec)\" is not a weekday or a range of weekdays (mon, tue, wed, thu, fri, sat, sun; e.g. mon-fri)"
                let bad = ends.first { index($0) == nil } ?? spec
                if let guess = Suggest.closest(to: bad.trimmingCharacters(in: .whitespaces), among: Self.weekdays + Self.weekdayNames) {
                    message += "; did you mean \"\(guess)\"?"
                }
                sink.error(node, message)
                return nil
            }
            guard first <= last else {
                sink.error(node, "weekday range \"\(part)\" runs backwards; write it from Monday towards Sunday, e.g. \"sat-sun\"")
                return nil
            }
            out.append(contentsOf: first...last)
        }
        return out
    }

    /// "08:00-17:00", "08:00-12:00, 13:00-17:00", a list of such, or "closed".
    private func parseRanges(_ node: YAMLNode) -> [BusinessCalendar.TimeRange]? {
        guard let items = sink.list(node, "opening hours") else { return nil }
        var ranges: [BusinessCalendar.TimeRange] = []
        for item in items {
            guard let text = sink.text(item, "opening hours") else { return nil }
            if text.lowercased() == "closed" { continue }
            for piece in text.split(separator: ",") {
                let bounds = piece.trimmingCharacters(in: .whitespaces).split(separator: "-").map(String.init)
                guard bounds.count == 2, let start = minutes(bounds[0]), let end = minutes(bounds[1]) else {
                    sink.error(item, "\"\(piece.trimmingCharacters(in: .whitespaces))\" is not a time range like \"08:00-17:00\"")
                    return nil
                }
                guard start < end, end <= 1440 else {
                    sink.error(item, "time range \"\(piece.trimmingCharacters(in: .whitespaces))\" must end after it starts, at 24:00 at the latest")
                    return nil
                }
                ranges.append(BusinessCalendar.TimeRange(startMinute: start, endMinute: end))
            }
        }
        ranges.sort { $0.startMinute < $1.startMinute }
        for (a, b) in zip(ranges, ranges.dropFirst()) where b.startMinute < a.endMinute {
            sink.error(node, "time ranges \(a) and \(b) overlap")
            return nil
        }
        return ranges
    }

    private func minutes(_ text: String) -> Int? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[1].count == 2, (1...2).contains(parts[0].count),
            let hour = Int(parts[0]), let minute = Int(parts[1]), (0...24).contains(hour), (0..<60).contains(minute),
            hour < 24 || minute == 0
        else { return nil }
        return hour * 60 + minute
    }
}
