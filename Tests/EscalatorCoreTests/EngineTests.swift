import EscalatorCore
import Foundation
import Testing

/// The engine on a virtual clock. Day 1 of the demo story is Monday 2026-03-02 in Asia/Manila.
@Suite struct EngineTests {
    static let keepInformed = Policy(
        name: "keep-customer-informed", measure: .silence(since: .last(.customerUpdate), after: Span(2, .days, business: true)),
        appliesTo: CaseMatcher([.init(field: .status, test: .noneOf(["delivered", "cancelled"]))]),
        pauseWhile: CaseMatcher([.init(field: .status, test: .oneOf(["waiting_on_customer"]))]),
        calendar: storeHours, warning: .percent(0.75), ladder: standardLadder)

    static let simpleLadder = Ladder(steps: [.init(anchor: .breach, to: [.role(.responsible)], cc: [.role(.supervisor)])])

    static func order(_ activity: [Activity] = [], owner: String? = "rep3", status: String? = "open") -> Case {
        Case(id: "TT-1001", kind: "custom-order", status: status, owner: owner, openedAt: at("2026-03-02 11:30"), activity: activity)
    }

    @Test func silenceClimbsTheLadderAndRepeats() {
        let result = replay(Self.order(), rules([Self.keepInformed]), from: at("2026-03-02 11:30"), to: at("2026-03-07 12:00"))
        #expect(result.notices.map(\.line) == [
            "2026-03-03 16:00 warn step1 → rep3",
            "2026-03-04 11:30 breach step2 → rep3 cc rep5",
            "2026-03-04 15:30 escalate step3 → rep5 cc rep3",
            "2026-03-05 11:30 escalate step4 → mgr1 cc rep5",
            "2026-03-06 11:30 repeat step4.r1 → mgr1 cc rep5",
            "2026-03-07 11:30 repeat step4.r2 → mgr1 cc rep5",
        ])
        let ids = result.notices.map(\.id)
        #expect(Set(ids).count == ids.count)
        #expect(ids[1] == "TT-1001/keep-customer-informed/since-\(Int(at("2026-03-02 11:30").timeIntervalSince1970)).1/step2")
        #expect(result.notices[3].stepCount == 4)
        #expect(result.notices[3].overdueSeconds == 9 * 3600)  // Wed 11:30 → Thu 11:30 is 9 working hours
    }

    @Test func anUpdateClearsAndStartsANewOccurrenceHeldByQuietHours() {
        let update = Activity(id: "a1", kind: .customerUpdate, at: at("2026-03-05 14:00"), actor: "rep3")
        let result = replay(Self.order([update]), rules([Self.keepInformed]), from: at("2026-03-02 11:30"), to: at("2026-03-09 13:00"))
        #expect(result.notices.map(\.line) == [
            "2026-03-03 16:00 warn step1 → rep3",
            "2026-03-04 11:30 breach step2 → rep3 cc rep5",
            "2026-03-04 15:30 escalate step3 → rep5 cc rep3",
            "2026-03-05 11:30 escalate step4 → mgr1 cc rep5",
            "2026-03-05 14:00 clear step0 → rep3,rep5,mgr1",
            // The new silence starts Thu 14:00: 15 working hours to Sat 12:00, warned at 75%.
            "2026-03-06 16:15 warn step1 → rep3",
            // Breached at Saturday's closing time: held until the store opens on Monday.
            "2026-03-09 08:00 breach step2 → rep3 cc rep5",
            "2026-03-09 12:00 escalate step3 → rep5 cc rep3",
        ])
        let occurrences = result.state.occurrences.map(\.id)
        #expect(occurrences.count == 2 && occurrences[0] != occurrences[1])
        #expect(result.state.occurrences[0].clearedAt == at("2026-03-05 14:00"))
    }

    @Test func afterDowntimeOneCatchUpNoticeAtTheCurrentStep() {
        let result = Engine.evaluate(Self.order(), rules: rules([Self.keepInformed]), state: .empty, now: at("2026-03-06 12:00"))
        #expect(result.notices.map(\.line) == ["2026-03-06 11:30 catch-up step4.r1 → mgr1 cc rep5"])
        #expect(result.notices[0].missed.map(\.step) == [1, 2, 3, 4])
        #expect(result.notices[0].missed.first?.dueAt == at("2026-03-03 16:00"))
        #expect(result.nextDeadline == at("2026-03-07 11:30"))
        // All the missed steps are recorded as taken, so none of them is sent later.
        let again = Engine.evaluate(Self.order(), rules: rules([Self.keepInformed]), state: result.state, now: at("2026-03-06 12:15"))
        #expect(again.notices.isEmpty)
    }

    @Test func evaluatingTwiceAtTheSameInstantSendsNothingTwiceAndIsDeterministic() {
        let now = at("2026-03-04 11:30")
        let first = Engine.evaluate(Self.order(), rules: rules([Self.keepInformed]), state: .empty, now: now)
        let same = Engine.evaluate(Self.order(), rules: rules([Self.keepInformed]), state: .empty, now: now)
        #expect(first.notices == same.notices && first.state == same.state)
        let second = Engine.evaluate(Self.order(), rules: rules([Self.keepInformed]), state: first.state, now: now)
        #expect(second.notices.isEmpty)
        #expect(second.nextDeadline == at("2026-03-04 15:30"))
    }

    @Test func pausedTimeDoesNotCount() {
        let activity = [
            Activity(id: "s1", kind: .statusChange, at: at("2026-03-03 10:00"), status: "waiting_on_customer"),
            Activity(id: "s2", kind: .statusChange, at: at("2026-03-04 10:00"), status: "in_production"),
        ]
        let subject = Self.order(activity, status: "in_production")
        let result = replay(subject, rules([Self.keepInformed]), from: at("2026-03-02 11:30"), to: at("2026-03-05 12:00"))
        // 7.5 working hours ran before the pause; the remaining 10.5 run from Wednesday 10:00.
        #expect(result.notices.map(\.line) == [
            "2026-03-04 16:00 warn step1 → rep3",
            "2026-03-05 11:30 breach step2 → rep3 cc rep5",
        ])
        // While paused the clock is not frozen at a deadline: nothing is due, and explain shows it paused.
        let during = Engine.assess(subject, rules: rules([Self.keepInformed]), state: .empty, now: at("2026-03-03 15:00"))
        let clock = during[0].clocks[0]
        #expect(clock.isPaused && clock.breach == nil)
        #expect(clock.remainingSeconds == 18 * 3600 - 7 * 3600 - 1800)
        #expect(clock.pausedSeconds == 5 * 3600)
        #expect(Engine.evaluate(subject, rules: rules([Self.keepInformed]), state: .empty, now: at("2026-03-03 15:00")).nextDeadline == nil)
    }

    @Test func anAcknowledgementStopsTheClimbUntilItExpires() {
        let ack = Acknowledgement(policy: "keep-customer-informed", by: "rep5", at: at("2026-03-04 12:00"), until: at("2026-03-05 12:00"))
        var state = replay(Self.order(), rules([Self.keepInformed]), from: at("2026-03-02 11:30"), to: at("2026-03-04 11:45")).state
        state.acknowledgements = [ack]
        let result = replay(Self.order(), rules([Self.keepInformed]), from: at("2026-03-04 12:00"), to: at("2026-03-06 12:00"), state: state)
        #expect(result.notices.map(\.line) == [
            "2026-03-05 11:30 catch-up step4 → mgr1 cc rep5",
            "2026-03-06 11:30 repeat step4.r1 → mgr1 cc rep5",
        ])
        #expect(result.notices[0].decidedAt == at("2026-03-05 12:00"))  // sent when the acknowledgement ran out
        #expect(result.notices[0].missed.map(\.step) == [3])
        let during = Engine.evaluate(Self.order(), rules: rules([Self.keepInformed]), state: state, now: at("2026-03-04 12:00"))
        #expect(during.nextDeadline == at("2026-03-05 12:00"))
    }

    @Test func anAcknowledgementNeverHidesANewBreach() {
        let promises = Policy(name: "promises-kept", measure: .promise(grace: .zero), calendar: storeHours, ladder: Self.simpleLadder)
        let promise = Activity(id: "P1", kind: .promise, at: at("2026-03-04 09:00"), text: "proof by 2pm", due: at("2026-03-04 14:00"))
        let ack = Acknowledgement(policy: nil, by: "rep5", at: at("2026-03-04 12:00"), until: at("2026-03-06 12:00"))
        let state = EscalationState(acknowledgements: [ack])
        let result = replay(Self.order([promise]), rules([promises]), from: at("2026-03-04 12:00"), to: at("2026-03-04 15:00"), state: state)
        #expect(result.notices.map(\.line) == ["2026-03-04 14:00 breach step1 → rep3 cc rep5"])
        #expect(result.notices[0].subject == "P1" && result.notices[0].subjectText == "proof by 2pm")
    }

    @Test func quietHoursHoldAStepUnlessItSaysOtherwise() {
        // A 24x7 policy that breaches on Sunday evening. A held step waits for its first recipient's calendar:
        // rep3 has none, so the policy's 24x7 applies and nothing is held; mgr1 works store hours.
        let ladder = Ladder(steps: [
            .init(anchor: .breach, to: [.role(.responsible)]),
            .init(anchor: .breach, offset: .wall(seconds: 3600), to: [.person("mgr1")]),
            .init(anchor: .breach, offset: .wall(seconds: 7200), to: [.person("mgr1")], quietHours: false),
        ])
        let policy = Policy(name: "p", measure: .deadline(field: .openedAt, plus: .wall(seconds: 86_400)), calendar: .alwaysOpen(), ladder: ladder)
        let subject = Case(id: "C1", owner: "rep3", openedAt: at("2026-03-07 20:00"))
        let result = replay(subject, rules([policy]), from: at("2026-03-07 20:00"), to: at("2026-03-09 09:00"))
        #expect(result.notices.map(\.line) == [
            "2026-03-08 20:00 breach step1 → rep3",
            // Step 2 (mgr1, quiet) is held until Monday 08:00, but step 3 (not quiet) comes first: step 2 folds
            // into it rather than following it.
            "2026-03-08 22:00 escalate step3 → mgr1",
        ])
        #expect(result.notices[1].missed.map(\.step) == [2])
        let monday = Engine.evaluate(subject, rules: rules([policy]), state: result.state, now: at("2026-03-09 09:00"))
        #expect(monday.notices.isEmpty)
    }

    /// The engine places only the latest repeat that is due and the first that is not, looking back from the first
    /// repeat after `now` over those that quiet hours hold. Placing every repeat since the breach and taking the
    /// first whose sending time is after `now` (as the engine once did) must give the same two, at every quarter
    /// hour of a week, nights and a weekend included.
    @Test func theRepeatsPlacedAreTheLatestDueAndTheFirstHeld() throws {
        let ladder = Ladder(steps: [.init(anchor: .breach, to: [.person("mgr1")])], repeatEvery: .wall(seconds: 3600))
        let policy = Policy(name: "p", measure: .deadline(field: .openedAt, plus: .wall(seconds: 3600)), calendar: .alwaysOpen(), ladder: ladder)
        let subject = Case(id: "C1", owner: "rep3", openedAt: at("2026-03-05 14:10"))
        let breach = at("2026-03-05 15:10")
        var held = 0
        for quarter in 0..<(7 * 96) {
            let now = breach.addingTimeInterval(Double(quarter) * 900 + 60)
            let clock = try #require(Engine.assess(subject, rules: rules([policy]), state: .empty, now: now).first?.clocks.first)
            let placed = clock.schedule.filter { $0.repeatNumber > 0 }
            // Every repeat in turn: mgr1 works store hours, so a repeat outside them waits for the next opening.
            var expected: [ScheduledStep.Summary] = []
            var latestDue: ScheduledStep.Summary?
            for number in 1...1000 {
                let nominal = breach.addingTimeInterval(Double(number) * 3600)
                let effective = try #require(storeHours.nextOpening(atOrAfter: nominal))
                let placedRepeat = ScheduledStep.Summary(repeatNumber: number, nominal: nominal, effective: effective)
                if effective > now {
                    expected = (latestDue.map { [$0] } ?? []) + [placedRepeat]
                    break
                }
                latestDue = placedRepeat
            }
            #expect(placed.map(\.summary) == expected, "at \(now)")
            if expected.last.map({ $0.nominal <= now }) == true { held += 1 }
        }
        // The week had repeats held past now by quiet hours (nights, the weekend), which the look-back finds.
        #expect(held > 100)
    }

    @Test func eachPromiseRunsOnItsOwnClock() {
        let promises = Policy(name: "promises-kept", measure: .promise(grace: Span(2, .hours, business: true)), calendar: storeHours, ladder: Self.simpleLadder)
        let activity = [
            Activity(id: "P1", kind: .promise, at: at("2026-03-09 10:00"), text: "10 pieces by Day 17", due: at("2026-03-18 17:00")),
            Activity(id: "P2", kind: .promise, at: at("2026-03-09 10:00"), text: "update tomorrow", due: at("2026-03-10 12:00"), keptBy: .customerUpdate),
            Activity(id: "P3", kind: .promise, at: at("2026-03-09 10:00"), text: "sample back", due: at("2026-03-11 12:00")),
            Activity(id: "u1", kind: .customerUpdate, at: at("2026-03-10 11:00")),
            Activity(id: "d1", kind: .delivery, at: at("2026-03-11 09:00"), quantity: 1, ref: "P3"),
        ]
        let result = replay(Self.order(activity), rules([promises]), from: at("2026-03-09 10:00"), to: at("2026-03-20 12:00"))
        #expect(result.notices.map(\.line) == ["2026-03-19 10:00 breach step1 → rep3 cc rep5"])
        #expect(result.notices[0].id == "TT-1001/promises-kept/promise-P1.1/step1")
    }

    @Test func anObligationOpenAtDeliveryIsBreachedAndClearsWhenResolved() {
        let policy = Policy(
            name: "nothing-left-behind", measure: .obligation(onStatus: ["delivered"], grace: Span(1, .days, business: true)),
            calendar: storeHours, ladder: Self.simpleLadder)
        let activity = [
            Activity(id: "O1", kind: .obligation, at: at("2026-03-02 11:30"), text: "return the customer's sample"),
            Activity(id: "s1", kind: .statusChange, at: at("2026-03-06 15:00"), status: "delivered"),
            Activity(id: "n1", kind: .note, at: at("2026-03-09 10:00"), text: "sample returned", ref: "O1"),
        ]
        let result = replay(Self.order(activity, status: "delivered"), rules([policy]), from: at("2026-03-02 11:30"), to: at("2026-03-09 12:00"))
        #expect(result.notices.map(\.line) == [
            "2026-03-09 08:00 breach step1 → rep3 cc rep5",  // due Sat 12:00 (closing), held to Monday
            "2026-03-09 10:00 clear step0 → rep3,rep5",
        ])
    }

    @Test func aCaseWithoutAValidOwnerGoesToTheFallbackOwner() {
        let policy = Policy(name: "someone-in-charge", measure: .unowned(after: Span(1, .hours, business: true)), calendar: storeHours, ladder: Self.simpleLadder)
        let subject = Case(id: "C9", kind: "custom-order", owner: "ghost", openedAt: at("2026-03-09 09:00"))
        let result = replay(subject, rules([policy]), from: at("2026-03-09 09:00"), to: at("2026-03-09 11:00"))
        #expect(result.notices.map(\.line) == ["2026-03-09 10:00 breach step1 → rep5 cc mgr1"])

        let orphan = replay(subject, rules([policy], fallbackOwner: nil), from: at("2026-03-09 09:00"), to: at("2026-03-09 11:00"))
        #expect(orphan.notices.count == 1 && orphan.notices[0].to.isEmpty)
        #expect(orphan.notices[0].unresolved == ["responsible (no valid owner, no fallback owner)", "supervisor"])

        // An assignment to a real person clears it.
        let assigned = Case(id: "C9", kind: "custom-order", owner: "rep4", openedAt: at("2026-03-09 09:00"), activity: [
            Activity(id: "a1", kind: .assignment, at: at("2026-03-09 10:30"), person: "rep4")
        ])
        let later = Engine.evaluate(assigned, rules: rules([policy]), state: result.state, now: at("2026-03-09 10:45"))
        #expect(later.notices.map(\.trigger) == [.clear])
    }

    @Test func stallResponseAndDeadlineMeasures() {
        let stall = Policy(
            name: "production-moving", measure: .stall(after: Span(2, .days, business: true)),
            appliesTo: CaseMatcher([.init(field: .status, test: .oneOf(["in_production"]))]), calendar: storeHours, ladder: Self.simpleLadder)
        let response = Policy(name: "answer-the-customer", measure: .response(after: Span(4, .hours, business: true)), calendar: storeHours, ladder: Self.simpleLadder)
        let proof = Policy(
            name: "lay-out-proof", measure: .deadline(field: .openedAt, plus: Span(2, .days, business: true)),
            until: [.activity("proof_sent")], calendar: storeHours, ladder: Self.simpleLadder)
        let activity = [
            Activity(id: "p", kind: .customerUpdate, at: at("2026-03-08 16:23"), tag: "proof_sent"),
            Activity(id: "s", kind: .statusChange, at: at("2026-03-10 10:00"), status: "in_production"),
            Activity(id: "i", kind: .internalUpdate, at: at("2026-03-11 15:00")),
            Activity(id: "m", kind: .customerMessage, at: at("2026-03-19 18:27"), text: "My items are overdue."),
        ]
        let result = replay(Self.order(activity, status: "in_production"), rules([stall, response, proof]), from: at("2026-03-02 11:30"), to: at("2026-03-20 13:00"))
        #expect(result.notices.map { "\($0.policy) \($0.line)" } == [
            "lay-out-proof 2026-03-04 11:30 breach step1 → rep3 cc rep5",
            "lay-out-proof 2026-03-08 16:30 clear step0 → rep3,rep5",
            "production-moving 2026-03-13 15:00 breach step1 → rep3 cc rep5",
            "answer-the-customer 2026-03-20 12:00 breach step1 → rep3 cc rep5",
        ])
    }

    @Test func aBreachThatClearsAndComesBackIsANewOccurrence() {
        let policy = Policy(
            name: "promised-delivery", measure: .deadline(field: .promisedAt, plus: .zero),
            until: [.matches(CaseMatcher([.init(field: .status, test: .oneOf(["delivered"]))]))], calendar: storeHours,
            ladder: Self.simpleLadder)
        var subject = Self.order([
            Activity(id: "s1", kind: .statusChange, at: at("2026-03-04 14:00"), status: "delivered"),
            Activity(id: "s2", kind: .statusChange, at: at("2026-03-05 09:00"), status: "in_production"),
        ], status: "in_production")
        subject.promisedAt = at("2026-03-04 12:00")
        let result = replay(subject, rules([policy]), from: at("2026-03-04 08:00"), to: at("2026-03-05 10:00"))
        #expect(result.notices.map(\.line) == [
            "2026-03-04 12:00 breach step1 → rep3 cc rep5",
            "2026-03-04 14:00 clear step0 → rep3,rep5",
            "2026-03-04 12:00 breach step1 → rep3 cc rep5",
        ])
        #expect(result.notices[2].decidedAt == at("2026-03-05 09:00"))  // reopened: the deadline has long passed
        #expect(result.notices[0].id.hasSuffix(".1/step1") && result.notices[2].id.hasSuffix(".2/step1"))
    }

    @Test func aRemovedPolicyStopsAndIsNotCleared() {
        let state = replay(Self.order(), rules([Self.keepInformed]), from: at("2026-03-02 11:30"), to: at("2026-03-04 12:00")).state
        let after = Engine.evaluate(Self.order(), rules: rules([]), state: state, now: at("2026-03-05 12:00"))
        #expect(after.notices.isEmpty && after.state == state && after.nextDeadline == nil)
    }

    @Test func aClosedCaseStopsEveryClockButObligations() {
        var subject = Self.order()
        subject.closedAt = at("2026-03-04 09:00")
        let result = replay(subject, rules([Self.keepInformed]), from: at("2026-03-02 11:30"), to: at("2026-03-05 12:00"))
        #expect(result.notices.map(\.line) == ["2026-03-03 16:00 warn step1 → rep3", "2026-03-04 09:00 clear step0 → rep3"])
    }
}

extension ScheduledStep {
    /// What decides a placed repeat: its number and its two times.
    struct Summary: Equatable {
        let repeatNumber: Int
        let nominal: Date
        let effective: Date
    }

    var summary: Summary { Summary(repeatNumber: repeatNumber, nominal: nominal, effective: effective) }
}
