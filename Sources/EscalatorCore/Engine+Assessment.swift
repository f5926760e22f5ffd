import Foundation

/// How one policy stands for one case at one instant: the input of `evaluate` and the substance of `explain`.
public struct PolicyAssessment: Sendable {
    public let policy: Policy
    public let applies: Bool
    /// Why it applies or not: each matcher clause with its outcome, then any stop condition that is met.
    public let reasons: [(text: String, passed: Bool)]
    public let clocks: [ClockAssessment]
}

/// One running clock of a policy on a case.
public struct ClockAssessment: Sendable {
    public let key: String
    public let subject: String?
    public let subjectText: String?
    public let start: Date
    public let warn: Date?
    /// Nil while the clock is paused before it breached.
    public let breach: Date?
    public let pauses: [BusinessCalendar.Pause]
    public let isPaused: Bool
    /// Working seconds since the start, paused time included. The measures are worked out when explaining only;
    /// evaluation measures the one it needs (`overdueSeconds(at:)`) when it sends a notice.
    public let elapsedSeconds: Int
    public let pausedSeconds: Int
    /// Working seconds left before the breach: 0 once breached, frozen while paused.
    public let remainingSeconds: Int?
    /// Working seconds past the breach at `now`; negative while the breach is ahead.
    public let overdueSeconds: Int
    /// Every step and repeat up to `now`, and the first one after it. When evaluating, the steps the open occurrence
    /// has taken are left out (only the steps not yet taken can be sent or fall due).
    public let schedule: [ScheduledStep]
    /// The calendar the clock's time is measured in.
    let measured: BusinessCalendar

    /// Working seconds past the breach at `now`, negative while the breach is ahead; 0 without a breach.
    func overdueSeconds(at now: Date) -> Int {
        guard let breach else { return 0 }
        if breach <= now { return Int(measured.businessSeconds(from: breach, to: now, excluding: pauses)) }
        return -Int(measured.businessSeconds(from: now, to: breach, excluding: pauses))
    }
}

/// A ladder step placed in time for one clock.
public struct ScheduledStep: Sendable {
    public let step: Int
    public let repeatNumber: Int
    public let trigger: Notice.Trigger
    /// When the ladder puts it.
    public let nominal: Date
    /// When it may be sent: `nominal`, or the opening of the recipient's calendar when quiet hours hold it.
    public let effective: Date
    let recipients: StepRecipients
    public let template: String?

    public var to: [Notice.Addressee] { recipients.to }
    public var cc: [Notice.Addressee] { recipients.cc }
    public var unresolved: [String] { recipients.unresolved }

    public var label: String { EscalationState.stepLabel(step: step, repeatNumber: repeatNumber) }
}

extension Engine {
    /// The most repeats looked at per clock: a clock that old is reported at its latest repeat.
    static let repeatLimit = 10_000

    /// Assesses every policy for a case at `now`. Without `explaining`, the reasons are left empty (evaluation
    /// needs only the outcome, and wording every clause of every policy is most of a matcher's cost); `memo`
    /// keeps resolved recipients between evaluations of one case (see `RecipientMemo`).
    public static func assess(
        _ subject: Case, rules: Rules, state: EscalationState, now: Date, explaining: Bool = true, memo: RecipientMemo? = nil
    ) -> [PolicyAssessment] {
        let signals = CaseSignals(case: subject, at: now) { rules.directory[$0] != nil }
        let view = signals.view(of: subject)
        let people = RoleResolver(subject: subject, signals: signals, rules: rules, memo: memo)
        return rules.policies.map { policy in
            var reasons = explaining ? policy.appliesTo.explain(view) : []
            var applies = explaining ? reasons.allSatisfy(\.passed) : policy.appliesTo.matches(view)
            if applies, signals.closedAt != nil, !isObligation(policy.measure) {
                if explaining { reasons.append(("case closed", false)) }
                applies = false
            }
            if applies, let stop = policy.until.first(where: { $0.isMet(signals, view) }) {
                if explaining { reasons.append(("until \(stop): met", false)) }
                applies = false
            }
            guard applies else { return PolicyAssessment(policy: policy, applies: false, reasons: reasons, clocks: []) }
            let clocks = rawClocks(policy, subject, signals).map { raw in
                // Evaluating, the steps the clock's open occurrence has taken need not be placed.
                let taken = explaining ? nil : state.occurrences.last { $0.policy == policy.name && $0.clock == raw.key && $0.clearedAt == nil }?.taken
                return assessClock(raw, policy: policy, subject: subject, signals: signals, people: people, now: now, taken: taken, measuring: explaining)
            }
            return PolicyAssessment(policy: policy, applies: true, reasons: reasons, clocks: clocks)
        }
    }

    private static func isObligation(_ measure: Policy.Measure) -> Bool {
        if case .obligation = measure { return true }
        return false
    }

    /// A clock before pauses and ladder: when it starts, and when it would breach if never paused.
    struct RawClock {
        let key: String
        let subject: String?
        let subjectText: String?
        let start: Date
        let target: Date?
        /// The calendar its allowed time counts in (the policy's for business spans, 24x7 for wall spans).
        let counting: BusinessCalendar
    }

    static func countingCalendar(_ span: Span, _ policy: Policy) -> BusinessCalendar {
        span.isBusiness ? policy.calendar : policy.wallCalendar
    }

    static func epoch(_ date: Date) -> Int { Int(date.timeIntervalSince1970.rounded(.down)) }

    static func rawClocks(_ policy: Policy, _ subject: Case, _ signals: CaseSignals) -> [RawClock] {
        let calendar = policy.calendar
        func since(_ start: Date?, _ after: Span, _ prefix: String) -> [RawClock] {
            guard let start else { return [] }
            let counting = countingCalendar(after, policy)
            return [
                RawClock(
                    key: "\(prefix)-\(epoch(start))", subject: nil, subjectText: nil, start: start,
                    target: counting.advance(start, by: after), counting: counting)
            ]
        }
        switch policy.measure {
        case .deadline(let field, let plus):
            guard let base = date(field, subject, signals) else { return [] }
            let start = min(base, subject.openedAt)
            return [
                RawClock(
                    key: "\(field.rawValue)-\(epoch(base))", subject: nil, subjectText: nil, start: start,
                    target: calendar.advance(base, by: plus), counting: calendar)
            ]
        case .silence(let anchor, let after):
            let start: Date
            switch anchor {
            case .last(let kind):
                start = subject.activity.last { $0.kind == kind && $0.at <= signals.now }?.at ?? subject.openedAt
            case .field(let field):
                start = date(field, subject, signals) ?? subject.openedAt
            }
            return since(start, after, "since")
        case .response(let after):
            return since(signals.customerWaitingSince, after, "waiting")
        case .stall(let after):
            let progress = signals.lastInternalUpdate.map { max($0, signals.statusSince) } ?? signals.statusSince
            return since(progress, after, "stalled")
        case .unowned(let after):
            return signals.ownerIsValid ? [] : since(signals.ownerSince, after, "unowned")
        case .promise(let grace):
            return signals.openPromises.compactMap { promise in
                guard let due = promise.due else { return nil }
                return RawClock(
                    key: "promise-\(promise.id)", subject: promise.id, subjectText: promise.text, start: promise.madeAt,
                    target: calendar.advance(due, by: grace), counting: calendar)
            }
        case .obligation(let onStatus, let grace):
            var closing = signals.closedAt
            if closing == nil, let status = signals.status, onStatus.contains(status) { closing = signals.statusSince }
            guard let closing else { return [] }
            return signals.openObligations.map { obligation in
                RawClock(
                    key: "obligation-\(obligation.id)", subject: obligation.id, subjectText: obligation.text,
                    start: closing, target: calendar.advance(closing, by: grace), counting: calendar)
            }
        }
    }

    static func date(_ field: Policy.DateField, _ subject: Case, _ signals: CaseSignals) -> Date? {
        switch field {
        case .openedAt: return subject.openedAt
        case .promisedAt: return subject.promisedAt
        case .statusSince: return signals.statusSince
        case .customerWaitingSince: return signals.customerWaitingSince
        case .lastCustomerUpdate: return signals.lastCustomerUpdate
        case .lastInternalUpdate: return signals.lastInternalUpdate
        }
    }

    /// The stretches of the status history during which `pause_while` matched.
    static func pauses(_ policy: Policy, _ subject: Case, _ signals: CaseSignals) -> [BusinessCalendar.Pause] {
        guard let matcher = policy.pauseWhile else { return [] }
        var pauses: [BusinessCalendar.Pause] = []
        let history = signals.statusHistory
        for (index, segment) in history.enumerated()
        where matcher.matches(signals.view(of: subject, status: .some(segment.status))) {
            let end = index + 1 < history.count ? history[index + 1].since : nil
            if let last = pauses.last, last.end == segment.since {
                pauses[pauses.count - 1] = BusinessCalendar.Pause(start: last.start, end: end)
            } else {
                pauses.append(BusinessCalendar.Pause(start: segment.since, end: end))
            }
        }
        return pauses
    }

    /// Places a clock's ladder in time. Steps in `taken` (the open occurrence's) are left out of the schedule; the
    /// time measures are worked out only when `measuring`.
    static func assessClock(
        _ raw: RawClock, policy: Policy, subject: Case, signals: CaseSignals, people: RoleResolver, now: Date,
        taken: [EscalationState.TakenStep]? = nil, measuring: Bool = true
    ) -> ClockAssessment {
        func isTaken(_ number: Int, _ repeatNumber: Int) -> Bool {
            taken?.contains { $0.step == number && $0.repeatNumber == repeatNumber } ?? false
        }
        let pauses = pauses(policy, subject, signals).filter { ($0.end ?? .distantFuture) > raw.start }
        let counting = raw.counting
        var breach = raw.target
        var budget: TimeInterval = 0
        if let target = raw.target {
            budget = counting.businessSeconds(from: raw.start, to: target)
            if !pauses.isEmpty { breach = counting.adding(seconds: budget, to: raw.start, excluding: pauses) }
        }
        var warn: Date?
        switch policy.warning {
        case .percent(let share)?:
            if raw.target != nil {
                warn = counting.adding(seconds: (budget * share).rounded(), to: raw.start, excluding: pauses)
            }
        case .before(let span)?:
            warn = breach.flatMap { countingCalendar(span, policy).retreat($0, by: span) }.map { max($0, raw.start) }
        case nil:
            break
        }

        // The ladder in time.
        var schedule: [ScheduledStep] = []
        let steps = policy.ladder.steps
        var lastNominal: Date?
        // Through a buffer pointer: the steps are read in place, not copied (each holds lists that copying would
        // retain), and a step is known to the role resolver by where it is stored.
        steps.withUnsafeBufferPointer { steps in
            for index in steps.indices {
                let anchorKind = steps[index].anchor
                let offset = steps[index].offset
                guard let anchor = anchorKind == .warn ? warn : breach,
                    let nominal = countingCalendar(offset, policy).advance(anchor, by: offset, excluding: pauses)
                else {
                    lastNominal = nil
                    continue
                }
                lastNominal = nominal
                guard !isTaken(index + 1, 0) else { continue }
                let trigger: Notice.Trigger = anchorKind == .warn ? .warn : (offset.isZero ? .breach : .escalate)
                schedule.append(people.schedule(steps.baseAddress! + index, number: index + 1, repeatNumber: 0, trigger: trigger, at: nominal, policy: policy))
            }
            guard let every = policy.ladder.repeatEvery, !every.isZero, !steps.isEmpty, let topNominal = lastNominal else { return }
            let top = steps.baseAddress! + (steps.count - 1)
            let quietHours = top.pointee.quietHours
            // Only the latest repeat that is already due matters (earlier ones would fold into it), plus the
            // first one after `now`. Walk the nominal times first; place just those two.
            let calendar = countingCalendar(every, policy)
            // The recipients are the top step's every time: resolve them once.
            let first = people.schedule(top, number: steps.count, repeatNumber: 0, trigger: .repeat, at: topNominal, policy: policy)
            // The first repeat that may not be sent yet, and the one before it. A repeat whose nominal time is
            // past `now` may not be; one at or before `now` may not be only when quiet hours hold it past `now`,
            // which means its recipient's calendar has no open moment from its nominal time to `now`, and then
            // neither has any later one. So the walk places nothing until the first nominal time past `now`,
            // and then looks back over the held ones (usually none), rather than placing every repeat since the
            // breach at every evaluation.
            var at = topNominal
            // Repeat n's nominal time is at index n - 1 - skipped.
            var nominals: [Date] = []
            var skipped = 0
            // Evaluating, the walk resumes from the latest repeat taken, at the nominal time recorded for it, when
            // nothing can have moved that time since: the top step was taken at the time it has now, and no pause
            // lies between. A clock weeks past its breach is then one step from `now`, not one per repeat since.
            if let taken, let latest = taken.last(where: { $0.step == steps.count && $0.repeatNumber > 0 }),
                latest.dueAt > topNominal, latest.dueAt <= now,
                taken.contains(where: { $0.step == steps.count && $0.repeatNumber == 0 && $0.dueAt == topNominal }),
                !pauses.contains(where: { $0.start < latest.dueAt && ($0.end ?? .distantFuture) > topNominal })
            {
                at = latest.dueAt
                nominals = [at]
                skipped = latest.repeatNumber - 1
            }
            func nominal(_ number: Int) -> Date { nominals[number - 1 - skipped] }
            var firstAfter: Int?
            var number = skipped + nominals.count
            while number < repeatLimit {
                guard let next = calendar.advance(at, by: every, excluding: pauses) else { break }
                number += 1
                at = next
                nominals.append(at)
                if at > now {
                    firstAfter = number
                    break
                }
            }
            func isHeld(_ number: Int) -> Bool {
                people.effectiveTime(of: first, quietHours: quietHours, at: nominal(number), policy: policy) > now
            }
            // The first repeat held past `now`: the first after `now`, or an earlier one that quiet hours hold.
            // (A repeat taken was not held when it was sent, nor is it now: the look back ends there.)
            var firstHeld = firstAfter
            var candidate = (firstAfter ?? number + 1) - 1
            while candidate > skipped, isHeld(candidate) {
                firstHeld = candidate
                candidate -= 1
            }
            if let firstHeld {
                if firstHeld - 1 > skipped && !isTaken(steps.count, firstHeld - 1) {
                    schedule.append(people.again(first, quietHours: quietHours, repeatNumber: firstHeld - 1, at: nominal(firstHeld - 1), policy: policy))
                }
                if !isTaken(steps.count, firstHeld) {
                    schedule.append(people.again(first, quietHours: quietHours, repeatNumber: firstHeld, at: nominal(firstHeld), policy: policy))
                }
            }
        }

        let measured = policy.calendar
        let isPaused = pauses.last.map { $0.start <= now && ($0.end ?? .distantFuture) > now } ?? false
        guard measuring else {
            return ClockAssessment(
                key: raw.key, subject: raw.subject, subjectText: raw.subjectText, start: raw.start, warn: warn,
                breach: breach, pauses: pauses, isPaused: isPaused, elapsedSeconds: 0, pausedSeconds: 0,
                remainingSeconds: nil, overdueSeconds: 0, schedule: schedule, measured: measured)
        }
        let elapsed = Int(measured.businessSeconds(from: raw.start, to: now))
        let running = Int(measured.businessSeconds(from: raw.start, to: now, excluding: pauses))
        var overdue = 0
        var remaining: Int?
        if let breach {
            if breach <= now {
                overdue = Int(measured.businessSeconds(from: breach, to: now, excluding: pauses))
                remaining = 0
            } else {
                remaining = Int(measured.businessSeconds(from: now, to: breach, excluding: pauses))
                overdue = -(remaining ?? 0)
            }
        } else if raw.target != nil {
            // Paused before the breach: the allowed time left is frozen.
            remaining = max(0, Int(budget - counting.businessSeconds(from: raw.start, to: now, excluding: pauses)))
        }
        return ClockAssessment(
            key: raw.key, subject: raw.subject, subjectText: raw.subjectText, start: raw.start, warn: warn,
            breach: breach, pauses: pauses, isPaused: isPaused, elapsedSeconds: elapsed, pausedSeconds: elapsed - running,
            remainingSeconds: remaining, overdueSeconds: overdue,
            schedule: schedule, measured: measured)
    }
}
