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
    public static func evaluate(_ subject: Case, rules: Rules, state: EscalationState, now: Date, memo: RecipientMemo? = nil) -> Evaluation {
        let assessments = assess(subject, rules: rules, state: state, now: now, explaining: false, memo: memo)
        var state = state
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
                let taken = openIndex.map { state.occurrences[$0].taken } ?? []
                let ack = activeAcknowledgement(state.acknowledgements, policy: policy.name, breach: clock.breach, now: now)

                // Untaken steps in ladder order; the last one that is due is sent. Earlier ones fold into it,
                // including any that quiet hours still hold: a lower step never follows a higher one.
                var pending: [ScheduledStep] = []
                var chosenIndex: Int?
                for step in clock.schedule where !taken.contains(where: { $0.step == step.step && $0.repeatNumber == step.repeatNumber }) {
                    let heldByAck = ack != nil && clock.breach.map { step.nominal > $0 } == true
                    if step.effective > now {
                        consider(heldByAck ? max(step.effective, ack!.until) : step.effective)
                    } else if heldByAck {
                        consider(ack!.until)
                    } else {
                        chosenIndex = pending.count
                    }
                    pending.append(step)
                }
                guard let chosenIndex else { continue }
                let chosen = pending[chosenIndex]
                let folded = Array(pending[..<chosenIndex])
                let dueCount = folded.filter { $0.effective <= now }.count + 1
                let due = folded + [chosen]

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
                var occurrence = state.occurrences[index]
                let noticeID = occurrence.noticeID(caseID: subject.id, step: chosen.step, repeatNumber: chosen.repeatNumber)
                let notice = Notice(
                    id: noticeID, caseID: subject.id, policy: policy.name, measure: policy.measure.name,
                    occurrence: occurrence.id, subject: clock.subject, subjectText: clock.subjectText,
                    step: chosen.step, stepCount: policy.ladder.steps.count, repeatNumber: chosen.repeatNumber,
                    trigger: dueCount > 1 ? .catchUp : chosen.trigger, dueAt: chosen.effective, decidedAt: now,
                    to: chosen.to, cc: chosen.cc, clockStart: clock.start, warnAt: clock.warn, breachAt: clock.breach,
                    overdueSeconds: clock.overdueSeconds, missed: folded.map {
                        Notice.MissedStep(step: $0.step, repeatNumber: $0.repeatNumber, dueAt: $0.nominal)
                    }, unresolved: chosen.unresolved, template: chosen.template)
                notices.append(notice)
                for step in due {
                    occurrence.taken.append(
                        EscalationState.TakenStep(
                            step: step.step, repeatNumber: step.repeatNumber, dueAt: step.nominal, takenAt: now,
                            noticeID: step.step == chosen.step && step.repeatNumber == chosen.repeatNumber ? noticeID : nil))
                }
                for person in chosen.to + chosen.cc where !occurrence.notified.contains(person.id) {
                    occurrence.notified.append(person.id)
                }
                occurrence.breachAt = clock.breach
                state.occurrences[index] = occurrence
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
