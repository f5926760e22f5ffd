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
    /// with the offset of the policy's calendar.
    public static func json(_ notice: Notice, rules: Rules) -> String {
        let zone = rules.policies.first { $0.name == notice.policy }?.calendar.timeZone ?? TimeZone(identifier: "UTC")!
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = zone
        formatter.formatOptions = [.withInternetDateTime]
        var object: [String: Any] = [
            "at": formatter.string(from: notice.dueAt), "decided_at": formatter.string(from: notice.decidedAt),
            "case": notice.caseID, "policy": notice.policy, "step": notice.step, "steps": notice.stepCount,
            "trigger": notice.trigger.rawValue, "to": notice.to.map(\.id), "cc": notice.cc.map(\.id),
            "notice_id": notice.id, "occurrence": notice.occurrence, "overdue_seconds": notice.overdueSeconds,
        ]
        if let subject = notice.subject { object["subject"] = subject }
        if notice.repeatNumber > 0 { object["repeat"] = notice.repeatNumber }
        if !notice.missed.isEmpty { object["missed_steps"] = notice.missed.map(\.step) }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
