import EscalatorCore
import Foundation

/// Runs the real engine on a virtual clock over cases read with their whole history: at each tick every case is
/// seen as it stood then (`Case.asOf`), exactly as the daemon would have seen it live.
public enum Simulation {
    /// Calls `emit` with each notice in time order. Ticks run from `from` to `to` every `step` seconds.
    public static func run(
        cases: [Case], rules: Rules, from: Date, to: Date, step: TimeInterval,
        emit: (Notice, Case, EscalationState) throws -> Void
    ) rethrows {
        try run(cases: cases, rules: rules, from: from, to: to, step: step) { decided in
            for (notice, subject, state) in decided { try emit(notice, subject, state) }
        }
    }

    /// The same, handing over each tick's notices at once, in time order.
    ///
    /// Cases do not affect one another, so each is followed on its own: evaluated at the ticks at which it
    /// changed (it opened, had activity or closed since the tick before) or a deadline of it fell due, exactly
    /// the ticks at which `EscalationLoop` would evaluate it. The cases are shared out among the cores a window of
    /// ticks at a time, and each window's notices are handed over tick by tick, sorted as the loop sorts them:
    /// by due time, then id.
    public static func run(
        cases: [Case], rules: Rules, from: Date, to: Date, step: TimeInterval,
        emitTick: ([(notice: Notice, subject: Case, state: EscalationState)]) throws -> Void
    ) rethrows {
        try run(
            cases: cases, rules: rules, from: from, to: to, step: step,
            make: { tick, notice, subject, state, _, _ in Decided(tick: tick, notice: notice, subject: subject, state: state) },
            emitTick: { parts, _, order in try emitTick(order.map { (parts[$0.part][$0.index].notice, parts[$0.part][$0.index].subject, parts[$0.part][$0.index].state) }) },
            endWindow: {})
    }

    /// Each notice as one line, appended as UTF-8 by `line` on the core that decided it, and the lines handed to
    /// `write` a window of ticks at a time, each ended by a newline, in the order `run` hands notices over:
    /// simulate's output, with neither the formatting nor the notices themselves left to one core. `line` is given
    /// the rules that decided the notice: the core's own copy of `rules` (see `Rules.withReplica`).
    public static func lines(
        cases: [Case], rules: Rules, from: Date, to: Date, step: TimeInterval,
        line: @escaping @Sendable (Notice, Rules, inout [UInt8]) -> Void, write: ([UInt8]) throws -> Void
    ) rethrows {
        var text: [UInt8] = []
        try run(
            cases: cases, rules: rules, from: from, to: to, step: step,
            make: { tick, notice, _, _, rules, bytes in
                // Into the deciding core's own buffer: one allocation per share of the cases, not one per line.
                let start = bytes.count
                line(notice, rules, &bytes)
                bytes.append(UInt8(ascii: "\n"))
                return Line(tick: tick, dueAt: notice.dueAt, id: notice.id, start: start, count: bytes.count - start)
            },
            emitTick: { parts, buffers, order in
                for (part, index) in order {
                    let line = parts[part][index]
                    text += buffers[part][line.start..<(line.start + line.count)]
                }
            },
            endWindow: {
                try write(text)
                text.removeAll(keepingCapacity: true)
            })
    }

    /// What the simulation keeps of a notice until its tick is handed over, in hand-over order.
    protocol Output: SendableMetatype {
        var tick: Int { get }
        var dueAt: Date { get }
        var id: String { get }
    }

    struct Decided: Output {
        let tick: Int
        let notice: Notice
        let subject: Case
        let state: EscalationState
        var dueAt: Date { notice.dueAt }
        var id: String { notice.id }
    }

    /// A line kept as where it lies in its core's buffer.
    struct Line: Output {
        let tick: Int
        let dueAt: Date
        let id: String
        let start: Int
        let count: Int
    }

    /// Hand-over order: by tick, then as the loop sorts a tick's notices, by due time, then id.
    static func precedes(_ a: some Output, _ b: some Output) -> Bool {
        if a.tick != b.tick { return a.tick < b.tick }
        if a.dueAt != b.dueAt { return a.dueAt < b.dueAt }
        return a.id < b.id
    }

    /// Follows the cases through the ticks a window at a time, making an output per notice on the deciding core,
    /// and hands them over tick by tick: the window's parts and buffers, and where the tick's outputs lie in them,
    /// in hand-over order (`precedes`).
    static func run<Kept: Output>(
        cases: [Case], rules: Rules, from: Date, to: Date, step: TimeInterval,
        make: @escaping @Sendable (Int, Notice, Case, EscalationState, Rules, inout [UInt8]) -> Kept,
        emitTick: (_ parts: [[Kept]], _ buffers: [[UInt8]], _ order: [(part: Int, index: Int)]) throws -> Void,
        endWindow: () throws -> Void
    ) rethrows {
        // The tick instants, added up as a clock's would be.
        var ticks: [Date] = []
        var now = from
        while now <= to {
            ticks.append(now)
            now += step
        }
        guard !ticks.isEmpty else { return }
        var tracks = Self.tracks(cases)
        var start = 0
        var order: [(part: Int, index: Int)] = []
        while start < ticks.count {
            let window = start..<min(start + Self.window, ticks.count)
            var (parts, buffers) = Self.follow(&tracks, ticks: ticks, window: window, rules: rules, make: make)
            // Each part is sorted; a tick's outputs are a run in each, merged here by where they lie (the outputs
            // themselves are not copied).
            var heads = [Int](repeating: 0, count: parts.count)
            for tick in window {
                order.removeAll(keepingCapacity: true)
                for part in parts.indices {
                    var end = heads[part]
                    while end < parts[part].count && parts[part][end].tick == tick {
                        order.append((part, end))
                        end += 1
                    }
                    heads[part] = end
                }
                guard !order.isEmpty else { continue }
                if parts.count > 1 { order.sort { Self.precedes(parts[$0.part][$0.index], parts[$1.part][$1.index]) } }
                try emitTick(parts, buffers, order)
            }
            try endWindow()
            // Let go of the window's outputs on every core, as they were made.
            parts.withUnsafeMutableBufferPointer { parts in
                buffers.withUnsafeMutableBufferPointer { buffers in
                    nonisolated(unsafe) let parts = parts
                    nonisolated(unsafe) let buffers = buffers
                    DispatchQueue.concurrentPerform(iterations: parts.count) {
                        parts[$0] = []
                        buffers[$0] = []
                    }
                }
            }
            start = window.upperBound
        }
    }

    /// Ticks followed at a time: enough work per window to keep every core busy, few enough notices held.
    static let window = 32

    /// One case as the simulation follows it.
    struct Track {
        let subject: Case
        /// When it changed, ascending: opened, each activity, closed.
        var changes: [Date]
        /// The first change not yet seen by an evaluation.
        var nextChange = 0
        var state = EscalationState.empty
        var deadline: Date?
        /// The index of the tick at which it is next evaluated; nil when nothing is left to happen.
        var nextTick: Int? = 0
        /// Its recipients as resolved so far (the rules do not change during a run).
        let memo = RecipientMemo()
    }

    /// One track per case id. A second case with an id already seen adds its changes only, as the loop's
    /// lookup by id would see the first.
    static func tracks(_ cases: [Case]) -> [Track] {
        var index: [String: Int] = [:]
        var tracks: [Track] = []
        tracks.reserveCapacity(cases.count)
        for subject in cases {
            var changes = [subject.openedAt]
            changes.reserveCapacity(subject.activity.count + 2)
            for item in subject.activity { changes.append(item.at) }
            if let closed = subject.closedAt { changes.append(closed) }
            if let known = index[subject.id] {
                tracks[known].changes += changes
                tracks[known].changes.sort()
                continue
            }
            changes.sort()
            index[subject.id] = tracks.count
            tracks.append(Track(subject: subject, changes: changes))
        }
        return tracks
    }

    /// Follows every track through the window's ticks, on every core; returns an output per notice decided, in
    /// parts in hand-over order, one per share of the tracks, and each share's byte buffer (`make` may write
    /// into it).
    static func follow<Kept: Output>(
        _ tracks: inout [Track], ticks: [Date], window: Range<Int>, rules: Rules,
        make: @Sendable (Int, Notice, Case, EscalationState, Rules, inout [UInt8]) -> Kept
    ) -> (parts: [[Kept]], buffers: [[UInt8]]) {
        /// The first tick at or after an instant (an instant at or before a tick is seen at that tick).
        @Sendable func tick(atOrAfter instant: Date) -> Int {
            var low = 0
            var high = ticks.count
            while low < high {
                let middle = (low + high) / 2
                if ticks[middle] < instant { low = middle + 1 } else { high = middle }
            }
            return low
        }
        @Sendable func one(_ track: inout Track, rules: Rules, into out: inout [Kept], bytes: inout [UInt8]) {
            while let index = track.nextTick, index < window.upperBound {
                let now = ticks[index]
                while track.nextChange < track.changes.count && track.changes[track.nextChange] <= now { track.nextChange += 1 }
                if let subject = track.subject.asOf(now) {
                    // Handed over whole, so the engine adds to the case's state in place.
                    var before = EscalationState.empty
                    swap(&before, &track.state)
                    let evaluation = Engine.evaluate(subject, rules: rules, state: consume before, now: now, memo: track.memo)
                    track.state = evaluation.state
                    track.deadline = evaluation.nextDeadline
                    for notice in evaluation.notices { out.append(make(index, notice, subject, evaluation.state, rules, &bytes)) }
                } else {
                    // Not opened yet: nothing to evaluate, and no deadline.
                    track.deadline = nil
                }
                var next = track.nextChange < track.changes.count ? tick(atOrAfter: track.changes[track.nextChange]) : ticks.count
                if let deadline = track.deadline { next = min(next, tick(atOrAfter: deadline)) }
                track.nextTick = next < ticks.count ? next : nil
            }
        }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let chunks = cores > 1 ? min(cores * 8, max(1, tracks.count / 16)) : 1
        var parts = [[Kept]](repeating: [], count: chunks)
        var buffers = [[UInt8]](repeating: [], count: chunks)
        tracks.withUnsafeMutableBufferPointer { all in
            parts.withUnsafeMutableBufferPointer { parts in
                buffers.withUnsafeMutableBufferPointer { buffers in
                    // Each chunk reads and writes only its own tracks, its own part and its own buffer.
                    nonisolated(unsafe) let all = all
                    nonisolated(unsafe) let parts = parts
                    nonisolated(unsafe) let buffers = buffers
                    DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                        let range = (all.count * chunk / chunks)..<(all.count * (chunk + 1) / chunks)
                        rules.withReplica { rules in
                            for index in range { one(&all[index], rules: rules, into: &parts[chunk], bytes: &buffers[chunk]) }
                        }
                        parts[chunk].sort { Self.precedes($0, $1) }
                    }
                }
            }
        }
        return (parts, buffers)
    }

    /// A notice as one JSON object (the shape of `simulate --format json`): `at` is when it fell due, in ISO 8601
    /// with the offset of the policy's calendar. Written by hand, keys in order.
    public static func json(_ notice: Notice, rules: Rules) -> String {
        var bytes: [UInt8] = []
        json(notice, rules: rules, into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The same object appended as UTF-8: simulate writes one per notice, millions at 100,000 orders.
    public static func json(_ notice: Notice, rules: Rules, into out: inout [UInt8]) {
        let calendar = rules.policies.first { $0.name == notice.policy }?.calendar
        func raw(_ text: StaticString) {
            out.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        }
        var first = true
        func key(_ name: StaticString) {
            raw(first ? "\"" : ",\"")
            first = false
            raw(name)
            raw("\":")
        }
        func text(_ value: String) { appendQuoted(value, to: &out) }
        func number(_ value: Int) { out += String(value).utf8 }
        func time(_ date: Date) {
            raw("\"")
            UTCTimestamp.append(date, offset: calendar?.utcOffset(at: date) ?? 0, to: &out)
            raw("\"")
        }
        func list(_ items: [Notice.Addressee]) {
            raw("[")
            for (index, item) in items.enumerated() {
                if index > 0 { raw(",") }
                text(item.id)
            }
            raw("]")
        }
        raw("{")
        key("at")
        time(notice.dueAt)
        key("case")
        text(notice.caseID)
        key("cc")
        list(notice.cc)
        key("decided_at")
        time(notice.decidedAt)
        if !notice.missed.isEmpty {
            key("missed_steps")
            raw("[")
            for (index, missed) in notice.missed.enumerated() {
                if index > 0 { raw(",") }
                number(missed.step)
            }
            raw("]")
        }
        key("notice_id")
        text(notice.id)
        key("occurrence")
        text(notice.occurrence)
        key("overdue_seconds")
        number(notice.overdueSeconds)
        key("policy")
        text(notice.policy)
        if notice.repeatNumber > 0 {
            key("repeat")
            number(notice.repeatNumber)
        }
        key("step")
        number(notice.step)
        key("steps")
        number(notice.stepCount)
        if let subject = notice.subject {
            key("subject")
            text(subject)
        }
        key("to")
        list(notice.to)
        key("trigger")
        text(notice.trigger.rawValue)
        raw("}")
    }

    private static func appendQuoted(_ text: String, to out: inout [UInt8]) {
        var plain = text
        guard plain.withUTF8(isPlain) else {
            out += quoted(text).utf8
            return
        }
        out.append(UInt8(ascii: "\""))
        plain.withUTF8 { out.append(contentsOf: $0) }
        out.append(UInt8(ascii: "\""))
    }

    /// Plain ASCII with nothing to escape: ids, names and times are.
    private static func isPlain(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.allSatisfy { $0 >= 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x5C }
    }

    /// A JSON string literal.
    static func quoted(_ text: String) -> String {
        // Ids, names and times are plain ASCII with nothing to escape: one copy, no per-character work.
        var plain = text
        if plain.withUTF8(isPlain) { return "\"" + text + "\"" }
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += "\\u" + String(scalar.value, radix: 16).leftPadded(4)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
