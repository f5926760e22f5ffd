import EscalatorCore
import EscalatorOutputs
import Foundation

/// What `explain` says about one case at one instant: per policy, whether it applies and why, its clocks, the
/// steps already taken and what comes next. The steps taken are reconstructed by replaying the case through the
/// engine from its opening (what the daemon would have done).
public struct Explanation: Sendable {
    public let caseID: String
    public let at: Date
    public let assessments: [PolicyAssessment]
    public let state: EscalationState

    /// Where the steps taken come from.
    public let recorded: Bool

    /// `recorded`: the case's state from the daemon's store; without it the steps taken are reconstructed by
    /// replaying the case from its opening.
    public init(subject: Case, rules: Rules, at: Date, recorded: EscalationState? = nil, step: TimeInterval = 900) {
        var state = recorded ?? EscalationState.empty
        if recorded == nil {
            Simulation.run(cases: [subject], rules: rules, from: subject.openedAt, to: at, step: step) { _, _, newState in state = newState }
        }
        self.recorded = recorded != nil
        let now = subject.asOf(at) ?? subject
        self.caseID = subject.id
        self.at = at
        self.state = state
        self.assessments = Engine.assess(now, rules: rules, state: state, now: at)
    }

    /// Readable text, times in each policy's calendar.
    public func text() -> String {
        var zone = TimeZone(identifier: "UTC")!
        func show(_ date: Date) -> String { LocalTime.format(date, in: zone) }
        func hours(_ seconds: Int?) -> String {
            guard let seconds else { return "-" }
            return String(format: "%.1fh", Double(seconds) / 3600)
        }
        var out = ["Case \(caseID) at \(UTCTimestamp.format(at)) (steps taken: \(recorded ? "as recorded by the daemon" : "reconstructed by replay"))"]
        for assessment in assessments {
            let policy = assessment.policy
            zone = policy.calendar.timeZone
            out.append("")
            out.append("\(policy.name) (\(policy.measure.name), calendar \(policy.calendar.name)): \(assessment.applies ? "applies" : "does not apply")")
            for reason in assessment.reasons { out.append("  \(reason.passed ? "✓" : "✗") \(reason.text)") }
            if assessment.applies && assessment.clocks.isEmpty { out.append("  no clock running (nothing to measure yet)") }
            for clock in assessment.clocks {
                let subject = clock.subject.map { " [\($0)\(clock.subjectText.map { ": \($0)" } ?? "")]" } ?? ""
                out.append("  clock \(clock.key)\(subject)\(clock.isPaused ? " — PAUSED" : "")")
                out.append("    started \(show(clock.start)); working time elapsed \(hours(clock.elapsedSeconds)), paused \(hours(clock.pausedSeconds)), remaining \(hours(clock.remainingSeconds))")
                if let warn = clock.warn { out.append("    warning at \(show(warn))") }
                out.append("    breach \(clock.breach.map(show) ?? "not scheduled (paused)")")
                let taken = state.occurrences.filter { $0.policy == policy.name && $0.clock == clock.key }.flatMap(\.taken)
                for step in taken { out.append("    taken: step \(step.step)\(step.repeatNumber > 0 ? " repeat \(step.repeatNumber)" : "") due \(show(step.dueAt))\(step.noticeID == nil ? " (folded into a later notice)" : "")") }
                let takenKeys = Set(taken.map { "\($0.step).\($0.repeatNumber)" })
                if let next = clock.schedule.first(where: { !takenKeys.contains("\($0.step).\($0.repeatNumber)") && $0.effective > at }) {
                    let cc = next.cc.isEmpty ? "" : ", cc \(next.cc.map(\.id).joined(separator: ", "))"
                    out.append("    next: step \(next.step) (\(next.trigger.rawValue)) at \(show(next.effective)) to \(next.to.map(\.id).joined(separator: ", "))\(cc)")
                }
            }
        }
        return out.joined(separator: "\n")
    }

    /// The same as one JSON object: times in ISO 8601 with each policy's calendar offset, durations in seconds.
    public func json() -> String {
        var policies: [[String: Any]] = []
        for assessment in assessments {
            let policy = assessment.policy
            let zone = policy.calendar.timeZone
            func time(_ date: Date) -> String { UTCTimestamp.format(date, offsetIn: zone) }
            var clocks: [[String: Any]] = []
            for clock in assessment.clocks {
                let taken = state.occurrences.filter { $0.policy == policy.name && $0.clock == clock.key }.flatMap(\.taken)
                var object: [String: Any] = [
                    "key": clock.key, "started": time(clock.start), "paused": clock.isPaused,
                    "elapsed_seconds": clock.elapsedSeconds, "paused_seconds": clock.pausedSeconds,
                    "overdue_seconds": clock.overdueSeconds,
                    "taken": taken.map { step -> [String: Any] in
                        var item: [String: Any] = ["step": step.step, "due": time(step.dueAt), "taken_at": time(step.takenAt)]
                        if step.repeatNumber > 0 { item["repeat"] = step.repeatNumber }
                        if let id = step.noticeID { item["notice_id"] = id }
                        return item
                    },
                ]
                if let subject = clock.subject { object["subject"] = subject }
                if let remaining = clock.remainingSeconds { object["remaining_seconds"] = remaining }
                if let warn = clock.warn { object["warn_at"] = time(warn) }
                if let breach = clock.breach { object["breach_at"] = time(breach) }
                let takenKeys = Set(taken.map { "\($0.step).\($0.repeatNumber)" })
                if let next = clock.schedule.first(where: { !takenKeys.contains("\($0.step).\($0.repeatNumber)") && $0.effective > at }) {
                    object["next"] = [
                        "step": next.step, "trigger": next.trigger.rawValue, "at": time(next.effective),
                        "to": next.to.map(\.id), "cc": next.cc.map(\.id),
                    ] as [String: Any]
                }
                clocks.append(object)
            }
            policies.append([
                "policy": policy.name, "measure": policy.measure.name, "calendar": policy.calendar.name,
                "applies": assessment.applies, "reasons": assessment.reasons.map { ["text": $0.text, "passed": $0.passed] as [String: Any] },
                "clocks": clocks,
            ])
        }
        let object: [String: Any] = [
            "case": caseID, "at": UTCTimestamp.format(at), "steps_taken_from": recorded ? "state store" : "replay", "policies": policies,
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
