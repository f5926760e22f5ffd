import Foundation

/// The escalation engine: one pure function from (case, rules, state, now) to (notices, new state, next deadline).
///
/// It does no I/O and reads no clock, so the daemon, `simulate`, `explain`, `test` and `check` all share it.
public enum Engine {
    /// The outcome of evaluating one case at one instant.
    public struct Evaluation: Sendable {
        public let notices: [Notice]
        public let state: EscalationState
        /// The next instant at which evaluating this case again could produce a notice, if nothing changes.
        public let nextDeadline: Date?
    }

    /// Evaluates a case at `now` and returns the notices that fall due, the new state and the next deadline.
    /// `memo`, given by a caller that evaluates one case again and again (simulate), keeps its resolved
    /// recipients from one evaluation to the next.
    ///
    /// The state is taken (`consuming`): a caller that hands over its only copy lets the engine change it in place.
    public static func evaluate(_ subject: Case, rules: Rules, state: consuming EscalationState, now: Date, memo: RecipientMemo? = nil) -> Evaluation {
        let assessments = assess(subject, rules: rules, state: state, now: now, explaining: false, memo: memo)
        var state = consume state
        var notices: [Notice] = []
        var next: Date?
        // (policy, clock) of every running clock. Linear lists here and below: a case has a handful of clocks and
        // steps, and hashing them cost more than comparing.
        var active: [(policy: String, clock: String)] = []

        func consider(_ instant: Date) { if next.map({ instant < $0 }) ?? true { next = instant } }

        for assessment in assessments where assessment.applies {
            let policy = assessment.policy
            for clock in assessment.clocks {
                active.append((policy.name, clock.key))
                let openIndex = state.occurrences.lastIndex {
                    $0.policy == policy.name && $0.clock == clock.key && $0.clearedAt == nil
                }
                let ack = activeAcknowledgement(state.acknowledgements, policy: policy.name, breach: clock.breach, now: now)

                // Untaken steps in ladder order; the last one that is due is sent. Earlier ones fold into it,
                // including any that quiet hours still hold: a lower step never follows a higher one. Steps are
                // read in place by index, and the occurrence is changed in place, so that evaluating a case does
                // not copy its history of steps.
                func isTaken(_ step: ScheduledStep) -> Bool {
                    guard let openIndex else { return false }
                    return state.occurrences[openIndex].taken.contains { $0.step == step.step && $0.repeatNumber == step.repeatNumber }
                }
                var chosenIndex: Int?
                for index in clock.schedule.indices where !isTaken(clock.schedule[index]) {
                    let effective = clock.schedule[index].effective
                    let heldByAck = ack != nil && clock.breach.map { clock.schedule[index].nominal > $0 } == true
                    if effective > now {
                        consider(heldByAck ? max(effective, ack!.until) : effective)
                    } else if heldByAck {
                        consider(ack!.until)
                    } else {
                        chosenIndex = index
                    }
                }
                guard let chosenIndex else { continue }
                let chosen = clock.schedule[chosenIndex]
                var missed: [Notice.MissedStep] = []
                var dueCount = 1
                for index in 0..<chosenIndex where !isTaken(clock.schedule[index]) {
                    let step = clock.schedule[index]
                    missed.append(Notice.MissedStep(step: step.step, repeatNumber: step.repeatNumber, dueAt: step.nominal))
                    if step.effective <= now { dueCount += 1 }
                }

                let index: Int
                if let openIndex {
                    index = openIndex
                } else {
                    let ordinal = state.occurrences.filter { $0.policy == policy.name && $0.clock == clock.key }.count + 1
                    state.occurrences.append(
                        EscalationState.Occurrence(
                            policy: policy.name, clock: clock.key, ordinal: ordinal, subject: clock.subject,
                            startedAt: clock.start, breachAt: clock.breach, taken: [], notified: [], clearedAt: nil))
                    index = state.occurrences.count - 1
                }
                let noticeID = state.occurrences[index].noticeID(caseID: subject.id, step: chosen.step, repeatNumber: chosen.repeatNumber)
                let notice = Notice(
                    id: noticeID, caseID: subject.id, policy: policy.name, measure: policy.measure.name,
                    occurrence: state.occurrences[index].id, subject: clock.subject, subjectText: clock.subjectText,
                    step: chosen.step, stepCount: policy.ladder.steps.count, repeatNumber: chosen.repeatNumber,
                    trigger: dueCount > 1 ? .catchUp : chosen.trigger, dueAt: chosen.effective, decidedAt: now,
                    to: chosen.to, cc: chosen.cc, clockStart: clock.start, warnAt: clock.warn, breachAt: clock.breach,
                    overdueSeconds: clock.overdueSeconds(at: now), missed: missed, unresolved: chosen.unresolved, template: chosen.template)
                notices.append(notice)
                // The folded steps and the chosen one, in ladder order (`missed` holds the folded ones).
                for step in missed {
                    state.occurrences[index].taken.append(
                        EscalationState.TakenStep(step: step.step, repeatNumber: step.repeatNumber, dueAt: step.dueAt, takenAt: now, noticeID: nil))
                }
                state.occurrences[index].taken.append(
                    EscalationState.TakenStep(step: chosen.step, repeatNumber: chosen.repeatNumber, dueAt: chosen.nominal, takenAt: now, noticeID: noticeID))
                for person in chosen.to + chosen.cc where !state.occurrences[index].notified.contains(person.id) {
                    state.occurrences[index].notified.append(person.id)
                }
                state.occurrences[index].breachAt = clock.breach
            }
        }

        // Occurrences whose condition is gone have cleared. Policies no longer in the rules are left alone:
        // their occurrences stay as they were and nothing more is sent for them.
        for index in state.occurrences.indices where state.occurrences[index].clearedAt == nil {
            let occurrence = state.occurrences[index]
            guard !active.contains(where: { $0.policy == occurrence.policy && $0.clock == occurrence.clock }),
                let policy = rules.policies.first(where: { $0.name == occurrence.policy })
            else { continue }
            state.occurrences[index].clearedAt = now
            guard policy.ladder.onClear == .notified, !occurrence.notified.isEmpty else { continue }
            let recipients = occurrence.notified.compactMap { rules.directory[$0] }.map {
                Notice.Addressee(id: $0.id, name: $0.name, email: $0.email, role: "notified")
            }
            guard !recipients.isEmpty else { continue }
            notices.append(
                Notice(
                    id: "\(subject.id)/\(policy.name)/\(occurrence.id)/clear", caseID: subject.id,
                    policy: policy.name, measure: policy.measure.name, occurrence: occurrence.id,
                    subject: occurrence.subject, subjectText: nil, step: 0, stepCount: policy.ladder.steps.count,
                    repeatNumber: 0, trigger: .clear, dueAt: now, decidedAt: now, to: recipients, cc: [],
                    clockStart: occurrence.startedAt, warnAt: nil, breachAt: occurrence.breachAt,
                    overdueSeconds: 0, missed: [], unresolved: [], template: nil))
        }
        return Evaluation(notices: notices.sorted { ($0.dueAt, $0.id) < ($1.dueAt, $1.id) }, state: state, nextDeadline: next)
    }

    /// An acknowledgement in force at `now` that covers an occurrence which had breached when it was given.
    /// An acknowledgement never covers a breach that happens after it: a new breach always gets through.
    static func activeAcknowledgement(_ acks: [Acknowledgement], policy: String, breach: Date?, now: Date)
        -> Acknowledgement?
    {
        guard let breach else { return nil }
        return acks.filter { ($0.policy == nil || $0.policy == policy) && $0.at <= now && now < $0.until && breach <= $0.at }
            .max { $0.until < $1.until }
    }
}
