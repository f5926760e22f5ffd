import EscalatorConfig
import EscalatorCore
import Foundation
import Testing

/// The Trophy-Trove order (../shared/context/the-problem.md) under the shipped rules. Day 1 is Monday 2026-03-02.
@Suite struct DemoStoryTests {
    static let manila = TimeZone(identifier: "Asia/Manila")!

    /// "Day N HH:MM" in Asia/Manila.
    static func day(_ n: Int, _ time: String) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = manila
        let hm = time.split(separator: ":").map { Int($0)! }
        let first = calendar.date(from: DateComponents(year: 2026, month: 3, day: 2, hour: hm[0], minute: hm[1]))!
        return calendar.date(byAdding: .day, value: n - 1, to: first)!
    }

    static let order: Case = {
        var n = 0
        func a(_ kind: Activity.Kind, _ d: Int, _ t: String, _ text: String, actor: String? = nil, tag: String? = nil,
               status: String? = nil, person: String? = nil, due: Date? = nil, quantity: Int? = nil, ref: String? = nil,
               keptBy: Activity.Kind? = nil, id: String? = nil) -> Activity {
            n += 1
            return Activity(id: id ?? "A\(n)", kind: kind, at: day(d, t), actor: actor, text: text, tag: tag, status: status,
                            person: person, due: due, quantity: quantity, ref: ref, keptBy: keptBy)
        }
        return Case(
            id: "TT-1001", kind: "custom-order", status: "delivered", owner: "rep3", openedAt: day(1, "11:30"),
            promisedAt: day(17, "17:00"), attributes: ["sales_rep": "rep4"],
            activity: [
                a(.obligation, 1, "11:30", "Return the customer's sample", id: "SAMPLE"),
                a(.customerUpdate, 7, "16:23", "Lay-out sent for approval", actor: "rep2", tag: "proof_sent"),
                a(.customerMessage, 8, "17:27", "Approved"),
                a(.internalUpdate, 8, "17:27", "Proceed", actor: "rep3"),
                a(.customerUpdate, 9, "10:00", "Project sent to our Production Department", actor: "rep4"),
                a(.statusChange, 9, "10:00", "", status: "in_production"),
                a(.promise, 9, "10:00", "At least 10 pieces express-delivered", due: day(17, "17:00"), id: "P-10BY17"),
                a(.customerMessage, 18, "18:27", "My items are overdue. Are they ready yet?"),
                a(.customerUpdate, 18, "18:27", "I'll update you.", actor: "rep3"),
                a(.customerUpdate, 19, "14:03", "We cannot make black borders", actor: "rep4"),
                a(.promise, 19, "14:03", "First 10 this week", due: day(20, "12:00"), id: "P-FIRST10"),
                a(.promise, 19, "14:03", "20 more next week", due: day(27, "12:00"), id: "P-NEXT20"),
                // Ownership becomes unclear: the order database still says rep3.
                a(.note, 19, "14:03", "I told Rep 5 to finish this", actor: "rep3"),
                a(.customerUpdate, 20, "09:25", "I will do my best to provide your items this week.", actor: "rep4"),
                a(.customerMessage, 40, "13:18", "Any news?"),
                a(.customerUpdate, 40, "13:18", "I'll give you an update once I get to production.", actor: "rep4"),
                a(.promise, 40, "13:18", "An update today", due: day(40, "17:00"), keptBy: .customerUpdate),
                a(.customerMessage, 41, "13:23", "24 hours since I last heard from you"),
                a(.customerUpdate, 41, "13:23", "The cutting machine broke.", actor: "rep4"),
                a(.customerMessage, 44, "14:06", "What's the likelihood of delivering 10 by Day 46?"),
                a(.customerUpdate, 46, "15:16", "Tomorrow.", actor: "rep3"),
                a(.promise, 46, "15:16", "10 pieces tomorrow", due: day(47, "17:00"), id: "P-TOMORROW"),
                a(.customerMessage, 49, "15:42", "Are you showing me that only 2 have been completed?"),
                a(.escalationRequest, 50, "08:55", "I want a meeting with your manager"),
                a(.customerUpdate, 50, "16:00", "Delivery tomorrow; the manager is free on Day 53", actor: "rep5"),
                a(.delivery, 51, "15:56", "30 pieces", quantity: 30, ref: "P-TOMORROW"),
                a(.delivery, 54, "15:57", "70 pieces", quantity: 70),
                a(.statusChange, 54, "15:57", "", status: "delivered"),
            ])
    }()

    static let rules = ConfigLoader.load(directory: "\(repositoryRoot)/Config").configuration!.rules

    /// Runs the engine as the daemon would: it wakes at each case change (an activity) and at each deadline the
    /// engine asked for, and at nothing else.
    static func runAsDaemon(until end: Date) -> [Notice] {
        var state = EscalationState.empty
        var notices: [Notice] = []
        var now = order.openedAt
        while now <= end {
            let result = Engine.evaluate(order, rules: rules, state: state, now: now)
            notices += result.notices
            state = result.state
            let nextChange = order.activity.first { $0.at > now }?.at
            guard let next = [result.nextDeadline, nextChange].compactMap({ $0 }).min() else { break }
            now = next
        }
        return notices
    }

    /// Runs the engine every `step` seconds, blind to deadlines.
    static func runEvery(_ step: TimeInterval, until end: Date) -> [Notice] {
        var state = EscalationState.empty
        var notices: [Notice] = []
        var now = order.openedAt
        while now <= end {
            let result = Engine.evaluate(order, rules: rules, state: state, now: now)
            notices += result.notices
            state = result.state
            now += step
        }
        return notices
    }

    static let notices = runAsDaemon(until: day(57, "12:00"))

    @Test func wakingOnlyAtDeadlinesMissesNothing() {
        // Polling every 15 minutes sees the same notices, due at the same instants, as waking only when the engine
        // said the next deadline is: nextDeadline is never late and never skips a step.
        let end = Self.day(21, "12:00")
        // A clear is due when it is seen, so only its identity is compared.
        func key(_ notice: Notice) -> String { notice.trigger == .clear ? notice.id : "\(notice.dueAt) \(notice.id)" }
        let polled = Self.runEvery(900, until: end).map(key).sorted()
        let woken = Self.notices.filter { $0.decidedAt <= end }.map(key).sorted()
        #expect(polled == woken)
        #expect(woken.count > 10)
    }

    @Test func theSupervisorHearsAWeekBeforeTheCustomerChases() throws {
        let notices = Self.notices
        #expect(Set(notices.map(\.id)).count == notices.count, "every notice is sent once")
        let firstToSupervisor = try #require(notices.first { ($0.to + $0.cc).contains { $0.id == "rep5" } })
        // The lay-out proof was due on Day 3, when the customer had also heard nothing for 2 business days: the
        // supervisor hears then, not when the customer complains on Day 18.
        #expect(firstToSupervisor.dueAt == Self.day(3, "11:30"))
        #expect(notices.contains { $0.policy == "lay-out-proof" && $0.dueAt == Self.day(3, "11:30") && $0.cc.map(\.id) == ["rep5"] })
        // Production went quiet on Day 9 10:00; two business days later, on Day 11, it is escalated.
        let stall = try #require(notices.first { $0.policy == "production-moving" && $0.trigger == .breach })
        #expect(stall.dueAt == Self.day(11, "10:00"))
        #expect(stall.cc.map(\.id) == ["rep5"])
        #expect(stall.dueAt.addingTimeInterval(7 * 86_400) < Self.day(18, "18:27"))
    }

    @Test func brokenPromisesAndTheForgottenSampleAreCaught() throws {
        let notices = Self.notices
        let promise = try #require(notices.first { $0.subject == "P-10BY17" && $0.trigger == .breach })
        #expect(promise.dueAt == Self.day(18, "10:00"))  // due Day 17 17:00 + 2 business hours: before the chase
        #expect(notices.contains { $0.subject == "P-TOMORROW" && $0.trigger == .breach })
        // The sample was still open when the order was delivered on Day 54 (a Friday): breached on Saturday at
        // closing time, held by quiet hours until Monday 08:00.
        let sample = try #require(notices.first { $0.subject == "SAMPLE" })
        #expect(sample.policy == "nothing-left-behind" && sample.dueAt == Self.day(57, "08:00"))
        // The manager was brought in by the ladder long before the customer demanded him on Day 50.
        let manager = try #require(notices.first { $0.to.contains { $0.id == "mgr1" } })
        #expect(manager.dueAt < Self.day(18, "18:27"))
    }
}
