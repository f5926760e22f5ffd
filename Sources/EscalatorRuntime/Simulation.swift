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
        let byID = Dictionary(cases.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        // The instants at which a case, seen as of then, changes: opened, each activity, closed.
        var events: [(Date, String)] = []
        for subject in cases {
            events.append((subject.openedAt, subject.id))
            for item in subject.activity { events.append((item.at, subject.id)) }
            if let closed = subject.closedAt { events.append((closed, subject.id)) }
        }
        events.sort { ($0.0, $0.1) < ($1.0, $1.1) }
        var next = events.startIndex
        var loop = EscalationLoop()
        var now = from
        while now <= to {
            while next < events.endIndex, events[next].0 <= now {
                loop.markChanged(events[next].1)
                next += 1
            }
            for (notice, subject, state) in loop.tick(at: now, rules: rules, caseFor: { byID[$0]?.asOf(now) }) {
                try emit(notice, subject, state)
            }
            now += step
        }
    }

    /// A notice as one JSON object (the shape of `simulate --format json`): `at` is when it fell due, in ISO 8601
    /// with the offset of the policy's calendar. Written by hand, keys in order: simulate prints one per notice.
    public static func json(_ notice: Notice, rules: Rules) -> String {
        let calendar = rules.policies.first { $0.name == notice.policy }?.calendar
        func time(_ date: Date) -> String { quoted(UTCTimestamp.format(date, offset: calendar?.utcOffset(at: date) ?? 0)) }
        var fields: [(String, String)] = [
            ("at", time(notice.dueAt)),
            ("case", quoted(notice.caseID)),
            ("cc", list(notice.cc.map(\.id))),
            ("decided_at", time(notice.decidedAt)),
        ]
        if !notice.missed.isEmpty { fields.append(("missed_steps", "[" + notice.missed.map { String($0.step) }.joined(separator: ",") + "]")) }
        fields += [
            ("notice_id", quoted(notice.id)), ("occurrence", quoted(notice.occurrence)),
            ("overdue_seconds", String(notice.overdueSeconds)), ("policy", quoted(notice.policy)),
        ]
        if notice.repeatNumber > 0 { fields.append(("repeat", String(notice.repeatNumber))) }
        fields += [("step", String(notice.step)), ("steps", String(notice.stepCount))]
        if let subject = notice.subject { fields.append(("subject", quoted(subject))) }
        fields += [("to", list(notice.to.map(\.id))), ("trigger", quoted(notice.trigger.rawValue))]
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    private static func list(_ items: [String]) -> String { "[" + items.map(quoted).joined(separator: ",") + "]" }

    /// A JSON string literal.
    static func quoted(_ text: String) -> String {
        // Ids, names and times are plain ASCII with nothing to escape: one copy, no per-character work.
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x5C }) { return "\"" + text + "\"" }
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
