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

    public var name: String { storage.name }
    public var timeZone: TimeZone { storage.timeZone }
    /// Opening hours indexed by ISO weekday, 0 = Monday … 6 = Sunday.
    public var weekly: [[TimeRange]] { storage.weekly }
    public var holidays: Set<LocalDate> { storage.holidays }
    /// True for a 24x7 calendar: every instant is working time and there are no holidays.
    public var isAlwaysOpen: Bool { storage.isAlwaysOpen }
    private var gregorian: Calendar { storage.gregorian }
    /// Offsets and open intervals over the years around its creation (`CalendarTable`); nil for a 24x7 calendar
    /// or a zone whose transitions could not be checked.
    private var table: CalendarTable? { storage.table }
    /// Whether the precomputed table is in use (a test checks that it gives the zone's own answers).
    var hasTable: Bool { storage.table != nil }
    /// Open intervals of days outside the table, kept once computed.
    private var cache: DayCache { storage.cache }
    /// A 24x7 calendar in the same zone (this one, if it is 24x7): wall spans count in it.
    public var wall: BusinessCalendar { storage.wallCalendar ?? self }

    /// Everything in one shared object: policies and steps pass calendars around by value, and copying one
    /// reference is cheaper than copying (and retaining) each field.
    private final class Storage: Sendable {
        let name: String
        let timeZone: TimeZone
        let weekly: [[TimeRange]]
        let holidays: Set<LocalDate>
        let isAlwaysOpen: Bool
        let gregorian: Calendar
        let table: CalendarTable?
        let cache = DayCache()
        /// A 24x7 calendar in the same zone, for wall spans that pauses interrupt; nil when this one is 24x7.
        let wallCalendar: BusinessCalendar?

        init(name: String, timeZone: TimeZone, weekly: [[TimeRange]], holidays: Set<LocalDate>, isAlwaysOpen: Bool, table: CalendarTable?) {
            self.name = name
            self.timeZone = timeZone
            self.weekly = weekly
            self.holidays = holidays
            self.isAlwaysOpen = isAlwaysOpen
            var gregorian = Calendar(identifier: .gregorian)
            gregorian.timeZone = timeZone
            self.gregorian = gregorian
            self.table = table
            self.wallCalendar = isAlwaysOpen ? nil : BusinessCalendar(alwaysOpenNamed: "24x7", timeZone: timeZone)
        }
    }

    private let storage: Storage

    /// How far the arithmetic looks for working time before it gives up (ten years).
    static let searchLimitDays = 3660

    /// `tableCentre` places the window of years whose arithmetic is precomputed (default: now); results are the
    /// same inside and outside it, only the speed differs.
    public init(name: String, timeZone: TimeZone, weekly: [[TimeRange]], holidays: Set<LocalDate> = [], tableCentre: Date? = nil) {
        precondition(weekly.count == 7, "weekly hours need one entry per weekday")
        let sorted = weekly.map { $0.sorted { $0.startMinute < $1.startMinute } }
        let window = CalendarTable.window(around: tableCentre ?? Date())
        let table = CalendarTable(
            zone: timeZone, firstDay: window.firstDay, dayCount: window.dayCount,
            isWorkingDay: { !sorted[$0.weekday].isEmpty && !holidays.contains($0) },
            openIntervals: { Self.intervals(of: $0, hours: sorted[$0.weekday], offset: $1) })
        self.storage = Storage(name: name, timeZone: timeZone, weekly: sorted, holidays: holidays, isAlwaysOpen: false, table: table)
    }

    private init(alwaysOpenNamed name: String, timeZone: TimeZone) {
        self.storage = Storage(
            name: name, timeZone: timeZone, weekly: Array(repeating: [TimeRange(startMinute: 0, endMinute: 1440)], count: 7),
            holidays: [], isAlwaysOpen: true, table: nil)
    }

    /// A calendar in which all time is working time.
    public static func alwaysOpen(name: String = "24x7", timeZone: TimeZone = TimeZone(identifier: "UTC")!)
        -> BusinessCalendar
    {
        BusinessCalendar(alwaysOpenNamed: name, timeZone: timeZone)
    }

    // MARK: Days

    /// The local date of an instant in this calendar's time zone.
    public func localDate(of instant: Date) -> LocalDate { LocalDate(daysSinceEpoch: day(of: instant)) }

    /// The day number (days since 1970-01-01) of an instant's local date.
    private func day(of instant: Date) -> Int {
        let seconds = Int((instant.timeIntervalSince1970 + Double(offset(at: instant.timeIntervalSince1970))).rounded(.down))
        return seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
    }

    /// The open intervals of a day by number: from the table, else worked out and kept.
    private func intervals(day: Int) -> OpenDay {
        if let table, let index = table.index(of: day) { return table.intervals(index) }
        guard isWorking(day: day) else { return OpenDay([]) }
        if let known = cache.intervals(day) { return OpenDay(known) }
        let date = LocalDate(daysSinceEpoch: day)
        let intervals = Self.intervals(of: date, hours: weekly[date.weekday], offset: offset(at:))
        cache.store(day, intervals)
        return OpenDay(intervals)
    }

    /// Whether a day by number is a working day: it has opening hours and is not a holiday.
    private func isWorking(day: Int) -> Bool {
        if let table, let index = table.index(of: day) { return table.isWorking(index) }
        let date = LocalDate(daysSinceEpoch: day)
        return !weekly[date.weekday].isEmpty && !holidays.contains(date)
    }

    /// Seconds since local midnight of the instant's local date (wall-clock reading).
    func secondsOfDay(_ instant: Date) -> Int {
        let seconds = Int((instant.timeIntervalSince1970 + Double(offset(at: instant.timeIntervalSince1970))).rounded(.down))
        return ((seconds % 86_400) + 86_400) % 86_400
    }

    /// The zone's offset from UTC in seconds at an instant.
    public func utcOffset(at instant: Date) -> Int { offset(at: instant.timeIntervalSince1970) }

    /// The zone's offset from UTC at an instant (epoch seconds), from the table where it has one.
    private func offset(at instant: Double) -> Int {
        table?.offset(at: instant) ?? timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: instant))
    }

    /// The instant at which local `date` reads `seconds` past midnight; 24:00 is the next midnight.
    public func localInstant(_ date: LocalDate, secondsOfDay seconds: Int) -> Date {
        Date(timeIntervalSince1970: Self.localInstant(date.daysSinceEpoch, seconds, offset: offset(at:)))
    }

    static func localInstant(_ day: Int, _ seconds: Int, offset: (Double) -> Int) -> Double {
        // Local seconds since the epoch, then the zone's offset at that instant. Near a transition the first guess
        // can be off by the jump, so check it; a time that falls in a spring-forward gap moves forward past it.
        let local = Double(day * 86_400 + seconds)
        let first = local - Double(offset(local))
        let firstOffset = offset(first)
        if first + Double(firstOffset) == local { return first }
        let second = local - Double(firstOffset)
        if second + Double(offset(second)) == local { return second }
        return max(first, second)
    }

    /// One day's open intervals from its weekday's hours.
    static func intervals(of date: LocalDate, hours: [TimeRange], offset: (Double) -> Int) -> [DateInterval] {
        hours.compactMap { range -> DateInterval? in
            let start = localInstant(date.daysSinceEpoch, range.startMinute * 60, offset: offset)
            let end = localInstant(date.daysSinceEpoch, range.endMinute * 60, offset: offset)
            // A range that a DST jump swallows whole has no length.
            return end > start ? DateInterval(start: Date(timeIntervalSince1970: start), end: Date(timeIntervalSince1970: end)) : nil
        }
    }

    public func isHoliday(_ date: LocalDate) -> Bool { holidays.contains(date) }

    /// A working day has opening hours and is not a holiday.
    public func isWorkingDay(_ date: LocalDate) -> Bool { isWorking(day: date.daysSinceEpoch) }


    // MARK: Queries

    /// True if the instant falls inside opening hours (`start <= t < end`).
    public func isOpen(at instant: Date) -> Bool {
        if isAlwaysOpen { return true }
        return intervals(day: day(of: instant)).contains { $0.start <= instant && instant < $0.end }
    }

    /// The first open instant at or after `instant`; nil if none within the search limit.
    public func nextOpening(atOrAfter instant: Date) -> Date? {
        if isAlwaysOpen { return instant }
        var day = day(of: instant)
        for _ in 0..<Self.searchLimitDays {
            for interval in intervals(day: day) where interval.end > instant {
                return max(interval.start, instant)
            }
            day += 1
        }
        return nil
    }

    /// Working time between two instants, in seconds; zero when `to` is not after `from`.
    public func businessSeconds(from: Date, to: Date, excluding pauses: [Pause] = []) -> TimeInterval {
        guard to > from else { return 0 }
        if isAlwaysOpen && pauses.isEmpty { return to.timeIntervalSince(from) }
        if let table, let total = table.businessSeconds(from: from, to: to, excluding: pauses) { return total }
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
        var day = day(of: instant)
        for _ in 0..<Self.searchLimitDays {
            for interval in intervals(day: day).reversed() where interval.start < instant {
                let end = min(interval.end, instant)
                let length = end.timeIntervalSince(interval.start)
                if remaining <= length { return end.addingTimeInterval(-remaining) }
                remaining -= length
            }
            day -= 1
        }
        return nil
    }

    /// Calls `body` with each open piece of time from `start` on, pauses cut out, until it returns false.
    private func forEachOpenPiece(from start: Date, excluding pauses: [Pause], _ body: (DateInterval) -> Bool) {
        let pauses = pauses.count > 1 ? pauses.sorted { $0.start < $1.start } : pauses
        var day = day(of: start)
        for _ in 0..<Self.searchLimitDays {
            for interval in intervals(day: day) where interval.end > start {
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
            day += 1
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
        if let table, let answer = table.advanceWorkingDays(count, from: instant.timeIntervalSince1970, searchLimit: Self.searchLimitDays) {
            return answer.map { Date(timeIntervalSince1970: $0) }
        }
        guard let start = nextOpening(atOrAfter: instant) else { return nil }
        let timeOfDay = secondsOfDay(start)
        var day = day(of: start)
        var found = 0
        var looked = 0
        while found < count && looked < Self.searchLimitDays {
            day += 1
            looked += 1
            if isWorking(day: day) { found += 1 }
        }
        guard found == count else { return nil }
        let intervals = intervals(day: day)
        guard let last = intervals.last else { return nil }
        let target = Date(timeIntervalSince1970: Self.localInstant(day, timeOfDay, offset: offset(at:)))
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
            for interval in intervals(day: day.daysSinceEpoch).reversed() where interval.start <= instant {
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
        let intervals = intervals(day: target.daysSinceEpoch)
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
