import EscalatorCore
import Foundation
import Testing

@Suite struct CaseSignalsTests {
    static let activity = [
        Activity(id: "1", kind: .customerMessage, at: at("2026-03-19 18:27")),
        Activity(id: "2", kind: .customerMessage, at: at("2026-03-19 18:40")),
        Activity(id: "3", kind: .statusChange, at: at("2026-03-20 09:00"), status: "in_production"),
        Activity(id: "4", kind: .customerUpdate, at: at("2026-03-20 14:03")),
        Activity(id: "5", kind: .escalationRequest, at: at("2026-04-20 08:55")),
        Activity(id: "6", kind: .assignment, at: at("2026-04-20 10:00"), person: "rep5"),
        Activity(id: "7", kind: .promise, at: at("2026-04-20 11:00"), text: "delivery tomorrow", due: at("2026-04-21 17:00")),
        Activity(id: "8", kind: .obligation, at: at("2026-03-02 11:30"), text: "return the sample"),
        Activity(id: "9", kind: .internalUpdate, at: at("2026-04-20 12:00"), tag: "cutter_fixed"),
    ]
    static let subject = Case(
        id: "TT-1001", kind: "custom-order", status: "in_production", owner: "rep5", openedAt: at("2026-03-02 11:30"),
        activity: activity)

    @Test func derivesTheSignalsAtAnInstant() {
        let s = CaseSignals(case: Self.subject, at: at("2026-04-20 13:00")) { people[$0] != nil }
        #expect(s.customerWaitingSince == at("2026-04-20 08:55"))  // the escalation request is unanswered
        #expect(s.lastCustomerUpdate == at("2026-03-20 14:03"))
        #expect(s.lastInternalUpdate == at("2026-04-20 12:00"))
        #expect(s.lastEscalationRequest == at("2026-04-20 08:55"))
        #expect(s.status == "in_production" && s.statusSince == at("2026-03-20 09:00"))
        #expect(s.owner == "rep5" && s.ownerIsValid && s.ownerSince == at("2026-04-20 10:00"))
        #expect(s.openPromises.map(\.id) == ["7"])
        #expect(s.openObligations.map(\.text) == ["return the sample"])
        #expect(s.firstSeen["cutter_fixed"] == at("2026-04-20 12:00"))
        #expect(s.closedAt == nil)
    }

    @Test func looksOnlyAtActivityUpToNowAndReadsHistoryWhenLookingBack() {
        let s = CaseSignals(case: Self.subject, at: at("2026-03-19 20:00")) { people[$0] != nil }
        #expect(s.customerWaitingSince == at("2026-03-19 18:27"))  // the first unanswered message
        #expect(s.lastCustomerUpdate == nil)
        #expect(s.status == nil)  // before the first status change, in history
        #expect(s.owner == "rep5")  // no assignment yet: the row
        #expect(s.openPromises.isEmpty)
    }

    @Test func theRowWinsForThePresent() {
        // The row says delivered although no status_change says so: the row is the present truth.
        var subject = Self.subject
        subject.status = "delivered"
        let s = CaseSignals(case: subject, at: at("2026-05-01 09:00")) { people[$0] != nil }
        #expect(s.status == "delivered")
    }

    @Test func anUnknownOrBlankOwnerIsNotValid() {
        for owner in [nil, "", "  ", "ghost"] as [String?] {
            let subject = Case(id: "X", owner: owner, openedAt: at("2026-03-02 09:00"))
            let s = CaseSignals(case: subject, at: at("2026-03-02 10:00")) { people[$0] != nil }
            #expect(!s.ownerIsValid)
        }
    }
}

@Suite struct DirectoryTests {
    @Test func theChainGoesUpAndStopsOnCycles() {
        #expect(people.chain(above: "rep3").map(\.id) == ["rep5", "mgr1"])
        #expect(people.firstCycle() == nil)
        let looped = Directory([
            Person(id: "a", name: "A", email: "a@x.example", supervisor: "b"),
            Person(id: "b", name: "B", email: "b@x.example", supervisor: "c"),
            Person(id: "c", name: "C", email: "c@x.example", supervisor: "b"),
        ])
        #expect(looped.firstCycle() == ["b", "c", "b"])
        #expect(looped.chain(above: "a").map(\.id) == ["b", "c"])
    }

    @Test func rolesResolveThroughRaciAndTheDirectory() {
        let ladder = Ladder(steps: [
            .init(anchor: .breach, to: [.role(.manager)], cc: [.role(.accountable), .role(.consulted), .role(.informed), .role(.supervisor)])
        ])
        let policy = Policy(name: "p", measure: .deadline(field: .openedAt, plus: .zero), calendar: .alwaysOpen(), ladder: ladder)
        var subject = Case(id: "C", kind: "custom-order", owner: "rep3", openedAt: at("2026-03-02 09:00"), attributes: ["sales_rep": "rep4"])
        var r = rules([policy])
        r = Rules(
            calendars: r.calendars, directory: r.directory,
            raci: Raci(byKind: ["custom-order": RaciEntry(accountable: [.person("mgr1")], consulted: [.person("prod")], informed: [.column("sales_rep")])], fallbackOwner: "rep5"),
            policies: [policy])
        let notice = Engine.evaluate(subject, rules: r, state: .empty, now: at("2026-03-02 09:00")).notices[0]
        #expect(notice.to.map(\.id) == ["mgr1"])
        #expect(notice.cc.map(\.id) == ["prod", "rep4", "rep5"])  // accountable mgr1 is already in "to"
        #expect(notice.cc.map(\.role) == ["consulted", "informed", "supervisor"])
        // With a supervisor who has no supervisor, the manager is the accountable person.
        subject.owner = "prod"
        let top = Engine.evaluate(subject, rules: r, state: .empty, now: at("2026-03-02 09:00")).notices[0]
        #expect(top.to.map(\.id) == ["mgr1"] && top.to[0].role == "manager")
    }
}
