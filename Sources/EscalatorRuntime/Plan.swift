import EscalatorCore
import Foundation

/// What a rule change would do: the notices two rule sets send over the same cases, from the same escalation
/// state, between now and a horizon, and how they differ.
public struct Plan: Sendable {
    public enum Change: String, Sendable, Codable { case added, removed, unchanged }

    public struct Line: Sendable {
        public let change: Change
        public let notice: Notice
        /// True when the notice is due at the start (the first tick after the change).
        public let immediate: Bool
    }

    public let lines: [Line]
    public let currentCount: Int
    public let proposedCount: Int

    /// Runs both rule sets from `now` to `now + horizon` on `step` ticks over the cases as they are now.
    public init(cases: [Case], current: Rules, proposed: Rules, states: [String: EscalationState], now: Date, horizon: TimeInterval, step: TimeInterval = 900) {
        let before = Self.notices(cases: cases, rules: current, states: states, from: now, to: now + horizon, step: step)
        let after = Self.notices(cases: cases, rules: proposed, states: states, from: now, to: now + horizon, step: step)
        func key(_ notice: Notice) -> String {
            "\(notice.id)|\(notice.dueAt.timeIntervalSince1970)|\(notice.to.map(\.id).joined(separator: ","))|\(notice.cc.map(\.id).joined(separator: ","))"
        }
        let beforeKeys = Set(before.map(key))
        let afterKeys = Set(after.map(key))
        var lines: [Line] = []
        for notice in after {
            lines.append(Line(change: beforeKeys.contains(key(notice)) ? .unchanged : .added, notice: notice, immediate: notice.decidedAt == now))
        }
        for notice in before where !afterKeys.contains(key(notice)) {
            lines.append(Line(change: .removed, notice: notice, immediate: notice.decidedAt == now))
        }
        self.lines = lines.sorted { ($0.notice.dueAt, $0.notice.caseID, $0.notice.id) < ($1.notice.dueAt, $1.notice.caseID, $1.notice.id) }
        currentCount = before.count
        proposedCount = after.count
    }

    /// The notices one rule set sends, starting from `states` (what has been sent already).
    static func notices(cases: [Case], rules: Rules, states: [String: EscalationState], from: Date, to: Date, step: TimeInterval) -> [Notice] {
        let byID = Dictionary(cases.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var loop = EscalationLoop(states: states)
        for id in byID.keys { loop.markChanged(id) }
        var out: [Notice] = []
        var now = from
        while now <= to {
            out += loop.tick(at: now, rules: rules) { byID[$0] }.map(\.notice)
            now += step
        }
        return out
    }

    public func count(_ change: Change) -> Int { lines.filter { $0.change == change }.count }
}
