import Foundation

/// Working time: a time zone, opening hours per weekday (several ranges a day), and holidays.
///
/// All arithmetic is done on local dates and converted to instants through the time zone, so results
/// stay right across daylight-saving changes, holidays and year ends.
public struct BusinessCalendar: Sendable {
    /// Opening hours within one day, as minutes since local midnight: `[start, end)`, end at most 24:00.
    public struct TimeRange: Hashable, Sendable, CustomStringConvertible {
        public let startMinute: Int
        public let endMinute: Int

        public init(startMinute: Int, endMinute: Int) {
            self.startMinute = startMinute
            self.endMinute = endMinute
        }

        public var description: String {
            func hm(_ m: Int) -> String { String(m / 60).leftPadded(2) + ":" + String(m % 60).leftPadded(2) }
            return "\(hm(startMinute))-\(hm(endMinute))"
        }
    }

    /// A stretch of time during which a clock does not run. An open-ended pause has no end.
    public struct Pause: Hashable, Sendable {
        public let start: Date
        public let end: Date?

        public init(start: Date, end: Date?) {
            self.start = start
            self.end = end
        }
    }

    public let name: String
    public let timeZone: TimeZone
    /// Opening hours indexed by ISO weekday, 0 = Monday … 6 = Sunday.
    public let weekly: [[TimeRange]]
    public let holidays: Set<LocalDate>
    /// True for a 24x7 calendar: every instant is working time and there are no holidays.
    public let isAlwaysOpen: Bool
    private let gregorian: Calendar
    /// Open intervals per local day, computed once: the arithmetic asks for the same days again and again.
    private let cache = DayCache()

    /// How far the arithmetic looks for working time before it gives up (ten years).
    static let searchLimitDays = 3660

    public init(name: String, timeZone: TimeZone, weekly: [[TimeRange]], holidays: Set<LocalDate> = []) {
        precondition(weekly.count == 7, "weekly hours need one entry per weekday")
        self.name = name
        self.timeZone = timeZone
        self.weekly = weekly.map { $0.sorted { $0.startMinute < $1.startMinute } }
        self.holidays = holidays
        self.isAlwaysOpen = false
        var gregorian = Calendar(identifier: .gregorian)
        gregorian.timeZone = timeZone
        self.gregorian = gregorian
    }

    private init(alwaysOpenNamed name: String, timeZone: TimeZone) {
        self.name = name
        self.timeZone = timeZone
        self.weekly = Array(repeating: [TimeRange(startMinute: 0, endMinute: 1440)], count: 7)
        self.holidays = []
        self.isAlwaysOpen = true
        var gregorian = Calendar(identifier: .gregorian)
        gregorian.timeZone = timeZone
        self.gregorian = gregorian
    }

    /// A calendar in which all time is working time.
    public static func alwaysOpen(name: String = "24x7", timeZone: TimeZone = TimeZone(identifier: "UTC")!)
        -> BusinessCalendar
    {
        BusinessCalendar(alwaysOpenNamed: name, timeZone: timeZone)
    }

    // MARK: Days

    /// The local date of an instant in this calendar's time zone.
    public func localDate(of instant: Date) -> LocalDate {
        let offset = timeZone.secondsFromGMT(for: instant)
        let seconds = Int((instant.timeIntervalSince1970 + Double(offset)).rounded(.down))
        return LocalDate(daysSinceEpoch: seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400)
    }

    /// Seconds since local midnight of the instant's local date (wall-clock reading).
    func secondsOfDay(_ instant: Date) -> Int {
        let seconds = Int((instant.timeIntervalSince1970 + Double(timeZone.secondsFromGMT(for: instant))).rounded(.down))
        return ((seconds % 86_400) + 86_400) % 86_400
    }

    /// The instant at which local `date` reads `seconds` past midnight; 24:00 is the next midnight.
    public func localInstant(_ date: LocalDate, secondsOfDay seconds: Int) -> Date {
        // Local seconds since the epoch, then the zone's offset at that instant. Near a transition the first guess
        // can be off by the jump, so check it; a time that falls in a spring-forward gap moves forward past it.
        let local = Double(date.daysSinceEpoch * 86_400 + seconds)
        let first = local - Double(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: local)))
        let firstOffset = timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: first))
        if first + Double(firstOffset) == local { return Date(timeIntervalSince1970: first) }
        let second = local - Double(firstOffset)
        if second + Double(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: second))) == local {
            return Date(timeIntervalSince1970: second)
        }
        return Date(timeIntervalSince1970: max(first, second))
    }

    public func isHoliday(_ date: LocalDate) -> Bool { holidays.contains(date) }

    /// A working day has opening hours and is not a holiday.
    public func isWorkingDay(_ date: LocalDate) -> Bool {
        !weekly[date.weekday].isEmpty && !holidays.contains(date)
    }

    /// The open intervals of one local date, in order; empty on holidays and closed weekdays.
    public func openIntervals(on date: LocalDate) -> [DateInterval] {
        guard isWorkingDay(date) else { return [] }
        let key = date.daysSinceEpoch
        if let known = cache.intervals(key) { return known }
        let intervals = weekly[date.weekday].compactMap { range -> DateInterval? in
            let start = localInstant(date, secondsOfDay: range.startMinute * 60)
            let end = localInstant(date, secondsOfDay: range.endMinute * 60)
            // A range that a DST jump swallows whole has no length.
            return end > start ? DateInterval(start: start, end: end) : nil
        }
        cache.store(key, intervals)
        return intervals
    }

    // MARK: Queries

    /// True if the instant falls inside opening hours (`start <= t < end`).
    public func isOpen(at instant: Date) -> Bool {
        if isAlwaysOpen { return true }
        return openIntervals(on: localDate(of: instant)).contains { $0.start <= instant && instant < $0.end }
    }

    /// The first open instant at or after `instant`; nil if none within the search limit.
    public func nextOpening(atOrAfter instant: Date) -> Date? {
        if isAlwaysOpen { return instant }
        var day = localDate(of: instant)
        for _ in 0..<Self.searchLimitDays {
            for interval in openIntervals(on: day) where interval.end > instant {
                return max(interval.start, instant)
            }
            day = day.adding(days: 1)
        }
        return nil
    }

    /// Working time between two instants, in seconds; zero when `to` is not after `from`.
    public func businessSeconds(from: Date, to: Date, excluding pauses: [Pause] = []) -> TimeInterval {
        guard to > from else { return 0 }
        if isAlwaysOpen && pauses.isEmpty { return to.timeIntervalSince(from) }
        var total: TimeInterval = 0
        forEachOpenPiece(from: from, excluding: pauses) { piece in
            if piece.start >= to { return false }
            total += min(piece.end, to).timeIntervalSince(piece.start)
            return piece.end < to
        }
        return total
    }

    /// The instant at which `seconds` of working time have passed since `instant`, not counting pauses.
    /// Nil if that never happens (the clock is paused for good, or no working time is left).
    public func adding(seconds: TimeInterval, to instant: Date, excluding pauses: [Pause] = []) -> Date? {
        if seconds <= 0 { return instant }
        if isAlwaysOpen && pauses.isEmpty { return instant.addingTimeInterval(seconds) }
        var remaining = seconds
        var result: Date?
        forEachOpenPiece(from: instant, excluding: pauses) { piece in
            let length = piece.end.timeIntervalSince(piece.start)
            if remaining <= length {
                result = piece.start.addingTimeInterval(remaining)
                return false
            }
            remaining -= length
            return true
        }
        return result
    }

    /// The instant `seconds` of working time before `instant`; nil if there is not that much working time.
    public func subtracting(seconds: TimeInterval, from instant: Date) -> Date? {
        if seconds <= 0 { return instant }
        if isAlwaysOpen { return instant.addingTimeInterval(-seconds) }
        var remaining = seconds
        var day = localDate(of: instant)
        for _ in 0..<Self.searchLimitDays {
            for interval in openIntervals(on: day).reversed() where interval.start < instant {
                let end = min(interval.end, instant)
                let length = end.timeIntervalSince(interval.start)
                if remaining <= length { return end.addingTimeInterval(-remaining) }
                remaining -= length
            }
            day = day.adding(days: -1)
        }
        return nil
    }

    /// Calls `body` with each open piece of time from `start` on, pauses cut out, until it returns false.
    private func forEachOpenPiece(from start: Date, excluding pauses: [Pause], _ body: (DateInterval) -> Bool) {
        let pauses = pauses.sorted { $0.start < $1.start }
        var day = localDate(of: start)
        for _ in 0..<Self.searchLimitDays {
            for interval in openIntervals(on: day) where interval.end > start {
                var cursor = max(interval.start, start)
                for pause in pauses where pause.start < interval.end && (pause.end ?? .distantFuture) > cursor {
                    if pause.start > cursor {
                        if !body(DateInterval(start: cursor, end: pause.start)) { return }
                    }
                    guard let end = pause.end else { return }  // paused for good
                    cursor = max(cursor, end)
                    if cursor >= interval.end { break }
                }
                if cursor < interval.end {
                    if !body(DateInterval(start: cursor, end: interval.end)) { return }
                }
            }
            day = day.adding(days: 1)
        }
    }

    // MARK: Spans

    /// The instant a span after `instant`. Business hours and minutes count working time; business days move to
    /// the same local time N working days later (held inside that day's hours); wall spans count elapsed time.
    /// Pauses are not counted. Nil if the span never completes.
    public func advance(_ instant: Date, by span: Span, excluding pauses: [Pause] = []) -> Date? {
        if span.isZero { return instant }
        if !span.isBusiness {
            let seconds = TimeInterval(span.fixedSeconds!)
            if pauses.isEmpty { return instant.addingTimeInterval(seconds) }
            let wall = isAlwaysOpen ? self : BusinessCalendar.alwaysOpen(timeZone: timeZone)
            return wall.adding(seconds: seconds, to: instant, excluding: pauses)
        }
        if let seconds = span.fixedSeconds {
            return adding(seconds: TimeInterval(seconds), to: instant, excluding: pauses)
        }
        guard let target = advanceWorkingDays(span.amount, from: instant) else { return nil }
        if pauses.isEmpty { return target }
        return adding(seconds: businessSeconds(from: instant, to: target), to: instant, excluding: pauses)
    }

    /// The instant a span before `instant` (no pauses): the mirror of `advance`.
    public func retreat(_ instant: Date, by span: Span) -> Date? {
        if span.isZero { return instant }
        if !span.isBusiness { return instant.addingTimeInterval(-TimeInterval(span.fixedSeconds!)) }
        if let seconds = span.fixedSeconds { return subtracting(seconds: TimeInterval(seconds), from: instant) }
        return retreatWorkingDays(span.amount, from: instant)
    }

    private func advanceWorkingDays(_ count: Int, from instant: Date) -> Date? {
        if isAlwaysOpen {
            return gregorian.date(byAdding: .day, value: count, to: instant)
        }
        guard let start = nextOpening(atOrAfter: instant) else { return nil }
        let timeOfDay = secondsOfDay(start)
        var day = localDate(of: start)
        var found = 0
        var looked = 0
        while found < count && looked < Self.searchLimitDays {
            day = day.adding(days: 1)
            looked += 1
            if isWorkingDay(day) { found += 1 }
        }
        guard found == count else { return nil }
        let intervals = openIntervals(on: day)
        guard let last = intervals.last else { return nil }
        let target = localInstant(day, secondsOfDay: timeOfDay)
        for interval in intervals {
            if target < interval.start { return interval.start }
            if target <= interval.end { return target }
        }
        return last.end
    }

    private func retreatWorkingDays(_ count: Int, from instant: Date) -> Date? {
        if isAlwaysOpen {
            return gregorian.date(byAdding: .day, value: -count, to: instant)
        }
        // The last working instant at or before `instant`, and the local day it belongs to.
        var anchor: (date: LocalDate, instant: Date)?
        var day = localDate(of: instant)
        search: for _ in 0..<Self.searchLimitDays {
            for interval in openIntervals(on: day).reversed() where interval.start <= instant {
                anchor = (day, min(interval.end, instant))
                break search
            }
            day = day.adding(days: -1)
        }
        guard let anchor else { return nil }
        // An interval that closes at 24:00 ends on the next local date; read that as 24:00 of its own day.
        let timeOfDay = localDate(of: anchor.instant) == anchor.date ? secondsOfDay(anchor.instant) : 86_400
        var target = anchor.date
        var found = 0
        var looked = 0
        while found < count && looked < Self.searchLimitDays {
            target = target.adding(days: -1)
            looked += 1
            if isWorkingDay(target) { found += 1 }
        }
        guard found == count else { return nil }
        let intervals = openIntervals(on: target)
        guard let first = intervals.first else { return nil }
        let wanted = localInstant(target, secondsOfDay: timeOfDay)
        for interval in intervals.reversed() {
            if wanted > interval.end { return interval.end }
            if wanted >= interval.start { return wanted }
        }
        return first.start
    }
}

/// A small thread-safe memo of open intervals by day number. Bounded: it is dropped when it grows large.
final class DayCache: @unchecked Sendable {
    private let lock = NSLock()
    private var days: [Int: [DateInterval]] = [:]
    private static let limit = 20_000

    func intervals(_ day: Int) -> [DateInterval]? {
        lock.lock()
        defer { lock.unlock() }
        return days[day]
    }

    func store(_ day: Int, _ intervals: [DateInterval]) {
        lock.lock()
        defer { lock.unlock() }
        if days.count >= Self.limit { days.removeAll(keepingCapacity: true) }
        days[day] = intervals
    }
}
