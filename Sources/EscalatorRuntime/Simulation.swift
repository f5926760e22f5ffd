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
        typealias Decided = (tick: Int, notice: Notice, subject: Case, state: EscalationState)
        try run(
            cases: cases, rules: rules, from: from, to: to, step: step,
            make: { tick, notice, subject, state -> Decided in (tick, notice, subject, state) },
            key: { ($0.tick, $0.notice.dueAt, $0.notice.id) },
            emitTick: { decided in try emitTick(decided.map { ($0.notice, $0.subject, $0.state) }) },
            endWindow: {})
    }

    /// Each notice as one line of text, made by `line` on the core that decided it, and the lines handed to
    /// `write` a window of ticks at a time, in the order `run` hands notices over: simulate's output, with
    /// neither the formatting nor the notices themselves left to one core.
    public static func lines(
        cases: [Case], rules: Rules, from: Date, to: Date, step: TimeInterval,
        line: @escaping @Sendable (Notice) -> String, write: (String) throws -> Void
    ) rethrows {
        typealias Line = (tick: Int, dueAt: Date, id: String, text: String)
        var text = ""
        try run(
            cases: cases, rules: rules, from: from, to: to, step: step,
            make: { tick, notice, _, _ -> Line in (tick, notice.dueAt, notice.id, line(notice)) },
            key: { ($0.tick, $0.dueAt, $0.id) },
            emitTick: { lines in
                for line in lines {
                    text += line.text
                    text += "\n"
                }
            },
            endWindow: {
                try write(text)
                text = ""
            })
    }

    /// Follows the cases through the ticks a window at a time, making an output per notice on the deciding core,
    /// and hands the outputs over tick by tick in the order of their keys (tick index, due time, notice id).
    static func run<Output>(
        cases: [Case], rules: Rules, from: Date, to: Date, step: TimeInterval,
        make: @escaping @Sendable (Int, Notice, Case, EscalationState) -> Output,
        key: @escaping @Sendable (Output) -> (Int, Date, String),
        emitTick: ([Output]) throws -> Void, endWindow: () throws -> Void
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
        while start < ticks.count {
            let window = start..<min(start + Self.window, ticks.count)
            var parts = Self.follow(&tracks, ticks: ticks, window: window, rules: rules, make: make, key: key)
            // Each part is sorted; a tick's outputs are a run in each, merged here.
            var heads = [Int](repeating: 0, count: parts.count)
            for tick in window {
                var merged: [Output] = []
                for (part, outputs) in parts.enumerated() {
                    var end = heads[part]
                    while end < outputs.count && key(outputs[end]).0 == tick { end += 1 }
                    merged += outputs[heads[part]..<end]
                    heads[part] = end
                }
                guard !merged.isEmpty else { continue }
                if parts.count > 1 { merged.sort { key($0) < key($1) } }
                try emitTick(merged)
            }
            try endWindow()
            // Let go of the window's outputs on every core, as they were made.
            parts.withUnsafeMutableBufferPointer { parts in
                nonisolated(unsafe) let parts = parts
                DispatchQueue.concurrentPerform(iterations: parts.count) { parts[$0] = [] }
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
    /// parts sorted by key, one per share of the tracks.
    static func follow<Output>(
        _ tracks: inout [Track], ticks: [Date], window: Range<Int>, rules: Rules,
        make: @Sendable (Int, Notice, Case, EscalationState) -> Output, key: @Sendable (Output) -> (Int, Date, String)
    ) -> [[Output]] {
        typealias Decided = [Output]
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
        @Sendable func one(_ track: inout Track, into out: inout Decided) {
            while let index = track.nextTick, index < window.upperBound {
                let now = ticks[index]
                while track.nextChange < track.changes.count && track.changes[track.nextChange] <= now { track.nextChange += 1 }
                if let subject = track.subject.asOf(now) {
                    let evaluation = Engine.evaluate(subject, rules: rules, state: track.state, now: now)
                    track.state = evaluation.state
                    track.deadline = evaluation.nextDeadline
                    for notice in evaluation.notices { out.append(make(index, notice, subject, evaluation.state)) }
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
        var parts = [Decided](repeating: [], count: chunks)
        tracks.withUnsafeMutableBufferPointer { all in
            parts.withUnsafeMutableBufferPointer { parts in
                // Each chunk reads and writes only its own tracks and its own part.
                nonisolated(unsafe) let all = all
                nonisolated(unsafe) let parts = parts
                DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                    let range = (all.count * chunk / chunks)..<(all.count * (chunk + 1) / chunks)
                    for index in range { one(&all[index], into: &parts[chunk]) }
                    parts[chunk].sort { key($0) < key($1) }
                }
            }
        }
        return parts
    }

    /// A notice as one JSON object (the shape of `simulate --format json`): `at` is when it fell due, in ISO 8601
    /// with the offset of the policy's calendar. Written by hand into one string, keys in order: simulate prints
    /// one per notice, millions at 100,000 orders.
    public static func json(_ notice: Notice, rules: Rules) -> String {
        let calendar = rules.policies.first { $0.name == notice.policy }?.calendar
        var out = ""
        out.reserveCapacity(320)
        func key(_ name: StaticString) {
            out += out.isEmpty ? "{\"" : ",\""
            out += name.description
            out += "\":"
        }
        func time(_ date: Date) { appendQuoted(UTCTimestamp.format(date, offset: calendar?.utcOffset(at: date) ?? 0), to: &out) }
        func list(_ items: [Notice.Addressee]) {
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                appendQuoted(item.id, to: &out)
            }
            out += "]"
        }
        key("at")
        time(notice.dueAt)
        key("case")
        appendQuoted(notice.caseID, to: &out)
        key("cc")
        list(notice.cc)
        key("decided_at")
        time(notice.decidedAt)
        if !notice.missed.isEmpty {
            key("missed_steps")
            out += "[" + notice.missed.map { String($0.step) }.joined(separator: ",") + "]"
        }
        key("notice_id")
        appendQuoted(notice.id, to: &out)
        key("occurrence")
        appendQuoted(notice.occurrence, to: &out)
        key("overdue_seconds")
        out += String(notice.overdueSeconds)
        key("policy")
        appendQuoted(notice.policy, to: &out)
        if notice.repeatNumber > 0 {
            key("repeat")
            out += String(notice.repeatNumber)
        }
        key("step")
        out += String(notice.step)
        key("steps")
        out += String(notice.stepCount)
        if let subject = notice.subject {
            key("subject")
            appendQuoted(subject, to: &out)
        }
        key("to")
        list(notice.to)
        key("trigger")
        appendQuoted(notice.trigger.rawValue, to: &out)
        out += "}"
        return out
    }

    private static func appendQuoted(_ text: String, to out: inout String) {
        if isPlain(text) {
            out += "\""
            out += text
            out += "\""
        } else {
            out += quoted(text)
        }
    }

    /// Plain ASCII with nothing to escape: ids, names and times are.
    private static func isPlain(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { bytes in bytes.allSatisfy { $0 >= 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x5C } }
    }

    /// A JSON string literal.
    static func quoted(_ text: String) -> String {
        // Ids, names and times are plain ASCII with nothing to escape: one copy, no per-character work.
        if isPlain(text) { return "\"" + text + "\"" }
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
