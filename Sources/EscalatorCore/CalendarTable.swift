import Foundation

/// A calendar's time zone offsets and working days over a window of years, worked out once, so the arithmetic
/// reads arrays instead of asking the time zone database for every instant (each such question takes a lock
/// and an ICU call) and hashing dates against the holiday set.
///
/// The offsets come from the zone's own transitions and are checked against the zone day by day; if they ever
/// disagree, no table is built and the calendar keeps asking the zone. Outside the window it always does.
///
/// The days are held in flat buffers that never change after `init`, read through pointers: the engine walks
/// them day by day for every clock it places, on every core at once, and reading a nested array there would
/// retain and release it each time (atomic operations that the cores contend for).
final class CalendarTable: @unchecked Sendable {
    /// Day number (days since 1970-01-01) of the window's first local day.
    let firstDay: Int
    let dayCount: Int
    /// The instants (epoch seconds) from which each offset holds, ascending; the first is the window's start.
    private let changes: UnsafeMutablePointer<Double>
    private let offsets: UnsafeMutablePointer<Int>
    private let changeCount: Int
    /// The instant (epoch seconds) at which the offsets stop being known.
    private let end: Double
    /// Every open interval of the window in order, as start and end (epoch seconds, whole seconds) pairs.
    private let bounds: UnsafeMutablePointer<Double>
    /// Per day, the index of its first interval in `bounds`; one more entry marks the end.
    private let firstInterval: UnsafeMutablePointer<Int>
    /// Per day, whether it is a working day.
    private let working: UnsafeMutablePointer<Bool>
    /// Per day, the open seconds of the days before it in the window (whole seconds, so sums are exact); one more
    /// entry holds the window's total.
    private let openBefore: UnsafeMutablePointer<Double>

    /// The window: from 1 January three years before `around` to 1 January four years after it.
    static func window(around instant: Date) -> (firstDay: Int, dayCount: Int) {
        let year = LocalDate(daysSinceEpoch: Int(instant.timeIntervalSince1970 / 86_400)).year
        let first = LocalDate(year: year - 3, month: 1, day: 1).daysSinceEpoch
        return (first, LocalDate(year: year + 4, month: 1, day: 1).daysSinceEpoch - first)
    }

    /// Builds the table, or nil if the zone's transitions cannot be trusted for the window. `openIntervals` works
    /// out one day's open intervals with the offset function it is given; `isWorkingDay` says if a day counts.
    init?(
        zone: TimeZone, firstDay: Int, dayCount: Int, isWorkingDay: (LocalDate) -> Bool,
        openIntervals: (_ day: LocalDate, _ offset: (Double) -> Int) -> [DateInterval]
    ) {
        // Two days of margin on both sides, so every local day of the window lies within the known offsets.
        let start = Double((firstDay - 2) * 86_400)
        let end = Double((firstDay + dayCount + 2) * 86_400)
        var changes = [start]
        var offsets = [zone.secondsFromGMT(for: Date(timeIntervalSince1970: start))]
        var cursor = Date(timeIntervalSince1970: start)
        while let next = zone.nextDaylightSavingTimeTransition(after: cursor), next.timeIntervalSince1970 < end {
            guard next > cursor, changes.count < 10_000 else { return nil }
            let offset = zone.secondsFromGMT(for: next)
            if offset != offsets.last {
                changes.append(next.timeIntervalSince1970)
                offsets.append(offset)
            }
            cursor = next
        }
        func known(_ instant: Double) -> Int? {
            changes.withUnsafeBufferPointer { changes in
                offsets.withUnsafeBufferPointer { Self.lookup(instant, changes, $0, end: end) }
            }
        }
        func zoneOffset(_ instant: Double) -> Int { zone.secondsFromGMT(for: Date(timeIntervalSince1970: instant)) }
        // Check the offsets against the zone at every UTC noon and on both sides of every change.
        for day in (firstDay - 1)...(firstDay + dayCount) {
            let noon = Double(day * 86_400 + 43_200)
            if known(noon) != zoneOffset(noon) { return nil }
        }
        for change in changes.dropFirst() where known(change - 1) != zoneOffset(change - 1) || known(change) != zoneOffset(change) {
            return nil
        }
        let offset = { (instant: Double) -> Int in known(instant) ?? zoneOffset(instant) }
        var bounds: [Double] = []
        var firstInterval: [Int] = []
        var working: [Bool] = []
        var openBefore: [Double] = [0]
        for day in firstDay..<(firstDay + dayCount) {
            let date = LocalDate(daysSinceEpoch: day)
            let isWorking = isWorkingDay(date)
            working.append(isWorking)
            firstInterval.append(bounds.count / 2)
            var open = 0.0
            for interval in isWorking ? openIntervals(date, offset) : [] {
                bounds += [interval.start.timeIntervalSince1970, interval.end.timeIntervalSince1970]
                open += interval.duration
            }
            openBefore.append(openBefore[openBefore.count - 1] + open)
        }
        firstInterval.append(bounds.count / 2)
        func copy<T>(_ values: [T]) -> UnsafeMutablePointer<T> {
            let pointer = UnsafeMutablePointer<T>.allocate(capacity: max(values.count, 1))
            pointer.initialize(from: values, count: values.count)
            return pointer
        }
        self.firstDay = firstDay
        self.dayCount = dayCount
        self.changes = copy(changes)
        self.offsets = copy(offsets)
        self.changeCount = changes.count
        self.end = end
        self.bounds = copy(bounds)
        self.firstInterval = copy(firstInterval)
        self.working = copy(working)
        self.openBefore = copy(openBefore)
    }

    deinit {
        // Plain values: nothing to deinitialize.
        changes.deallocate()
        offsets.deallocate()
        bounds.deallocate()
        firstInterval.deallocate()
        working.deallocate()
        openBefore.deallocate()
    }

    /// The zone's offset at an instant (epoch seconds), or nil outside the window.
    @inline(__always)
    func offset(at instant: Double) -> Int? {
        Self.lookup(instant, UnsafeBufferPointer(start: changes, count: changeCount), UnsafeBufferPointer(start: offsets, count: changeCount), end: end)
    }

    private static func lookup(_ instant: Double, _ changes: UnsafeBufferPointer<Double>, _ offsets: UnsafeBufferPointer<Int>, end: Double) -> Int? {
        guard instant >= changes[0], instant < end else { return nil }
        // Few changes (two a year): the last one at or before the instant.
        var low = 0
        var high = changes.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if changes[middle] <= instant { low = middle } else { high = middle - 1 }
        }
        return offsets[low]
    }

    /// The index of a day number in the window, or nil outside it.
    @inline(__always)
    func index(of day: Int) -> Int? {
        let index = day - firstDay
        return index >= 0 && index < dayCount ? index : nil
    }

    /// Whether the day at `index` is a working day.
    @inline(__always)
    func isWorking(_ index: Int) -> Bool { working[index] }

    /// The open intervals of the day at `index`, read in place.
    @inline(__always)
    func intervals(_ index: Int) -> OpenDay {
        let first = firstInterval[index]
        return OpenDay(pairs: bounds + 2 * first, count: firstInterval[index + 1] - first)
    }

    /// The local day number and the seconds since its midnight of an instant (epoch seconds); nil outside the
    /// known offsets.
    @inline(__always)
    func local(_ instant: Double) -> (day: Int, seconds: Int)? {
        guard let offset = offset(at: instant) else { return nil }
        let seconds = Int((instant + Double(offset)).rounded(.down))
        let day = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        return (day, seconds - day * 86_400)
    }

    /// `BusinessCalendar`'s working-day advance done on the table alone: `count` working days after the first
    /// opening at or after `instant`, at the same local time held inside that day's hours. Nil when the answer
    /// needs days or offsets outside the window (the calendar then works it out from the zone); `.some(nil)` when
    /// there is no such instant within the search limit.
    func advanceWorkingDays(_ count: Int, from instant: Double, searchLimit: Int) -> Double?? {
        // The first opening at or after the instant.
        guard var day = local(instant)?.day else { return nil }
        var opening: Double?
        search: for _ in 0..<searchLimit {
            guard let index = index(of: day) else { return nil }
            let first = firstInterval[index]
            for interval in first..<firstInterval[index + 1] where bounds[2 * interval + 1] > instant {
                opening = max(bounds[2 * interval], instant)
                break search
            }
            day += 1
        }
        guard let opening else { return .some(nil) }
        guard let (openingDay, timeOfDay) = local(opening) else { return nil }
        day = openingDay
        var found = 0
        var looked = 0
        while found < count && looked < searchLimit {
            day += 1
            looked += 1
            guard let index = index(of: day) else { return nil }
            if working[index] { found += 1 }
        }
        guard found == count else { return .some(nil) }
        guard let index = index(of: day) else { return nil }
        let intervals = firstInterval[index]..<firstInterval[index + 1]
        guard let last = intervals.last else { return .some(nil) }
        // The local time on that day: every offset it looks up lies within a day of it.
        let local = Double(day * 86_400 + timeOfDay)
        guard offset(at: local - 2 * 86_400) != nil, offset(at: local + 2 * 86_400) != nil else { return nil }
        let target = BusinessCalendar.localInstant(day, timeOfDay) { self.offset(at: $0)! }
        for interval in intervals {
            if target < bounds[2 * interval] { return bounds[2 * interval] }
            if target <= bounds[2 * interval + 1] { return target }
        }
        return bounds[2 * last + 1]
    }

    /// `BusinessCalendar.businessSeconds` from the running totals: the open seconds of whole days in between are
    /// one subtraction, so the cost does not grow with the distance (clocks weeks old are measured at every
    /// evaluation). Pauses, merged where they overlap, are measured the same way and taken off. Every term is
    /// whole seconds or the exact difference of two nearby instants, so the sum is exact, the same as adding
    /// piece by piece. Nil when an end falls outside the window.
    func businessSeconds(from: Date, to: Date, excluding pauses: [BusinessCalendar.Pause]) -> TimeInterval? {
        func open(_ from: Date, _ to: Date) -> TimeInterval? {
            guard to > from else { return 0 }
            guard let first = local(from.timeIntervalSince1970).flatMap({ index(of: $0.day) }),
                let last = local(to.timeIntervalSince1970).flatMap({ index(of: $0.day) })
            else { return nil }
            func piece(_ index: Int) -> TimeInterval {
                var sum: TimeInterval = 0
                for interval in intervals(index) where interval.end > from && interval.start < to {
                    sum += min(interval.end, to).timeIntervalSince(max(interval.start, from))
                }
                return sum
            }
            if first == last { return piece(first) }
            return piece(first) + openSeconds(days: first + 1, last) + piece(last)
        }
        guard var total = open(from, to) else { return nil }
        guard !pauses.isEmpty else { return total }
        var merged: [(start: Date, end: Date)] = []
        for pause in pauses.count > 1 ? pauses.sorted(by: { $0.start < $1.start }) : pauses {
            let start = max(pause.start, from)
            let end = min(pause.end ?? to, to)
            guard end > start else { continue }
            if let last = merged.last, start <= last.end {
                merged[merged.count - 1].end = max(last.end, end)
            } else {
                merged.append((start, end))
            }
        }
        for pause in merged {
            guard let paused = open(pause.start, pause.end) else { return nil }
            total -= paused
        }
        return total
    }

    /// Open seconds of the days from index `from` up to, not including, index `to`.
    @inline(__always)
    func openSeconds(days from: Int, _ to: Int) -> Double { openBefore[to] - openBefore[from] }
}

/// One local day's open intervals, in order: read in place from a calendar's table, or a day worked out.
struct OpenDay: RandomAccessCollection {
    /// Start and end pairs inside a `CalendarTable`, which outlives the calendar call that reads them.
    private let pairs: UnsafePointer<Double>?
    private let computed: [DateInterval]?
    let startIndex = 0
    let endIndex: Int

    init(pairs: UnsafePointer<Double>, count: Int) {
        self.pairs = pairs
        self.computed = nil
        self.endIndex = count
    }

    init(_ intervals: [DateInterval]) {
        self.pairs = nil
        self.computed = intervals
        self.endIndex = intervals.count
    }

    @inline(__always)
    subscript(index: Int) -> DateInterval {
        guard let pairs else { return computed![index] }
        return DateInterval(start: Date(timeIntervalSince1970: pairs[2 * index]), end: Date(timeIntervalSince1970: pairs[2 * index + 1]))
    }
}
