import EscalatorConfig
import EscalatorCore
import EscalatorSources
import Foundation
import Testing

/// The Trophy-Trove order (../shared/context/the-problem.md) under the shipped rules. Day 1 is Monday 2026-03-02.
@Suite struct DemoStoryTests {
    static let rules = ConfigLoader.load(directory: "\(repositoryRoot)/Config").configuration!.rules

    /// Runs the engine as the daemon would: it wakes at each case change (an activity) and at each deadline the
    /// engine asked for, and at nothing else.
    static func runAsDaemon(until end: Date) -> [Notice] {
        var state = EscalationState.empty
        var notices: [Notice] = []
        var now = DemoStory.order.openedAt
        while now <= end {
            let result = Engine.evaluate(DemoStory.order, rules: rules, state: state, now: now)
            notices += result.notices
            state = result.state
            let nextChange = DemoStory.order.activity.first { $0.at > now }?.at
            guard let next = [result.nextDeadline, nextChange].compactMap({ $0 }).min() else { break }
            now = next
        }
        return notices
    }

    /// Runs the engine every `step` seconds, blind to deadlines.
    static func runEvery(_ step: TimeInterval, until end: Date) -> [Notice] {
        var state = EscalationState.empty
        var notices: [Notice] = []
        var now = DemoStory.order.openedAt
        while now <= end {
            let result = Engine.evaluate(DemoStory.order, rules: rules, state: state, now: now)
            notices += result.notices
            state = result.state
            now += step
        }
        return notices
    }

    static let notices = runAsDaemon(until: DemoStory.day(57, "12:00"))

    @Test func wakingOnlyAtDeadlinesMissesNothing() {
        // Polling every 15 minutes sees the same notices, due at the same instants, as waking only when the engine
        // said the next deadline is: nextDeadline is never late and never skips a step.
        let end = DemoStory.day(21, "12:00")
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
        #expect(firstToSupervisor.dueAt == DemoStory.day(3, "11:30"))
        #expect(notices.contains { $0.policy == "lay-out-proof" && $0.dueAt == DemoStory.day(3, "11:30") && $0.cc.map(\.id) == ["rep5"] })
        // Production went quiet on Day 9 10:00; two business days later, on Day 11, it is escalated.
        let stall = try #require(notices.first { $0.policy == "production-moving" && $0.trigger == .breach })
        #expect(stall.dueAt == DemoStory.day(11, "10:00"))
        #expect(stall.cc.map(\.id) == ["rep5"])
        #expect(stall.dueAt.addingTimeInterval(7 * 86_400) < DemoStory.day(18, "18:27"))
    }

    @Test func brokenPromisesAndTheForgottenSampleAreCaught() throws {
        let notices = Self.notices
        let promise = try #require(notices.first { $0.subject == "P-10BY17" && $0.trigger == .breach })
        #expect(promise.dueAt == DemoStory.day(18, "10:00"))  // due Day 17 17:00 + 2 business hours: before the chase
        #expect(notices.contains { $0.subject == "P-TOMORROW" && $0.trigger == .breach })
        // The sample was still open when the order was delivered on Day 54 (a Friday): breached on Saturday at
        // closing time, held by quiet hours until Monday 08:00.
        let sample = try #require(notices.first { $0.subject == "SAMPLE" })
        #expect(sample.policy == "nothing-left-behind" && sample.dueAt == DemoStory.day(57, "08:00"))
        // The manager was brought in by the ladder long before the customer demanded him on Day 50.
        let manager = try #require(notices.first { $0.to.contains { $0.id == "mgr1" } })
        #expect(manager.dueAt < DemoStory.day(18, "18:27"))
    }
}
