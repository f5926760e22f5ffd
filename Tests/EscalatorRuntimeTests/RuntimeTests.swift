import EscalatorConfig
import EscalatorCore
import EscalatorSources
import EscalatorTestKit
import Foundation
import Testing

@testable import EscalatorRuntime

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

@Suite struct EscalationLoopTests {
    /// The daemon's breached count reads each case's earliest breach of an open occurrence: cleared occurrences and
    /// those without a breach time do not count, nor (once the daemon names the policies in force) a removed
    /// policy's. The same whether states are plain, packed in memory or packed on a shelf.
    @Test func theEarliestBreachPerCaseCountsOpenOccurrencesOfThePoliciesCounted() throws {
        let start = Date(timeIntervalSince1970: 1_780_000_000)
        func occurrence(_ policy: String, breach: Double?, cleared: Bool = false) -> EscalationState.Occurrence {
            EscalationState.Occurrence(
                policy: policy, clock: "c", ordinal: 1, subject: nil, startedAt: start, breachAt: breach.map { start + $0 }, taken: [],
                notified: [], clearedAt: cleared ? start + 1 : nil)
        }
        let states = [
            "A": EscalationState(occurrences: [occurrence("p", breach: 300), occurrence("q", breach: 100)]),
            "B": EscalationState(occurrences: [occurrence("p", breach: 50, cleared: true), occurrence("p", breach: 900)]),
            "C": EscalationState(occurrences: [occurrence("q", breach: 10)]),
            "D": EscalationState(occurrences: [occurrence("p", breach: nil)]),
        ]
        for (packs, shelf) in [(false, nil), (true, nil), (true, try Shelf(directory: NSTemporaryDirectory()))] {
            var loop = EscalationLoop(states: states, packsStates: packs, shelf: shelf)
            func earliest() -> [Double] {
                var out: [Double] = []
                loop.forEachEarliestBreach { out.append($0.timeIntervalSince(start)) }
                return out.sorted()
            }
            #expect(earliest() == [10, 100, 900])
            loop.countedPolicies = ["p"]
            #expect(earliest() == [300, 900])
            loop.restore(EscalationState(occurrences: [occurrence("q", breach: 5), occurrence("p", breach: 600)]), for: "C")
            #expect(earliest() == [300, 600, 900])
            loop.countedPolicies = nil
            #expect(earliest() == [5, 100, 900])
            loop.release("A")
            #expect(earliest() == [5, 900])
        }
    }

    @Test func aTickEvaluatesOnlyChangedAndDueCases() throws {
        let rules = try #require(ConfigLoader.load(directory: "\(repositoryRoot)/Config").configuration).rules
        let story = DemoStory.order
        var loop = EscalationLoop()
        var evaluated: [String] = []
        func caseFor(_ id: String, at now: Date) -> Case? {
            evaluated.append(id)
            return id == story.id ? story.asOf(now) : nil
        }
        loop.markChanged(story.id)
        loop.markChanged("GONE")
        let opened = story.openedAt
        #expect(loop.tick(at: opened, rules: rules) { caseFor($0, at: opened) }.isEmpty)
        #expect(evaluated == ["GONE", story.id])
        // Nothing changed and nothing is due: nothing is evaluated.
        evaluated = []
        #expect(loop.tick(at: opened.addingTimeInterval(60), rules: rules) { caseFor($0, at: opened) }.isEmpty)
        #expect(evaluated.isEmpty)
        // At the next deadline the case is evaluated again and the warning goes out.
        let deadline = loop.nextDeadline()
        let next = try #require(deadline)
        #expect(next == DemoStory.day(2, "16:00"))
        let due = loop.tick(at: next, rules: rules) { caseFor($0, at: next) }
        #expect(due.map(\.notice.trigger) == [.warn])
        #expect(evaluated == [story.id])
    }
}

extension EscalationLoopTests {
    /// Many due cases are evaluated on every core; the results must be exactly those of one after another.
    /// A loop that packs its states (as the daemon's does) decides exactly what one that keeps them as structs
    /// decides, tick after tick over the demo's whole story for 12 shifted copies, and records the same states.
    @Test func aLoopThatPacksItsStatesDecidesTheSame() throws {
        let rules = try #require(ConfigLoader.load(directory: "\(repositoryRoot)/Config").configuration).rules
        let story = DemoStory.order
        let cases = (0..<12).map { story.shifted(by: Double($0 * 3_600), id: "TT-\($0)") }
        let byID = Dictionary(uniqueKeysWithValues: cases.map { ($0.id, $0) })
        var plain = EscalationLoop()
        var packed = EscalationLoop(packsStates: true)
        var now = story.openedAt
        var notices = 0
        while now < DemoStory.day(54, "00:00") {
            for subject in cases where Int(now.timeIntervalSince(subject.openedAt)) % 7_200 == 0 {
                plain.markChanged(subject.id)
                packed.markChanged(subject.id)
            }
            let one = plain.tick(at: now, rules: rules) { byID[$0]?.asOf(now) }
            let other = packed.tick(at: now, rules: rules) { byID[$0]?.asOf(now) }
            #expect(one.map(\.notice) == other.map(\.notice))
            #expect(one.map(\.state) == other.map(\.state))
            let touched = plain.drainTouched()
            let touchedPacked = packed.drainTouched()
            #expect(touched.map(\.id) == touchedPacked.map(\.id) && touched.map(\.state) == touchedPacked.map(\.state))
            #expect(touched.map(\.deadline) == touchedPacked.map(\.deadline))
            notices += one.count
            now += 900
        }
        #expect(notices > 100, "the copies escalate: \(notices)")
        #expect(plain.stateCount == packed.stateCount && plain.stateCount == cases.count, "\(plain.stateCount)")
        for subject in cases {
            #expect(plain.state(of: subject.id) == packed.state(of: subject.id))
            let closedAt = subject.asOf(now)!.closedAt
            #expect(plain.isSettled(subject.id, closedAt: closedAt) == packed.isSettled(subject.id, closedAt: closedAt))
        }
    }

    @Test func evaluatingOnEveryCoreGivesTheSameResultsInTheSameOrder() throws {
        let rules = try #require(ConfigLoader.load(directory: "\(repositoryRoot)/Config").configuration).rules
        let story = DemoStory.order
        // 3,000 copies of the story, each opened 7 minutes after the one before, seen 12 days after the last opened.
        // Half the ids extend another ("TT-7" and "TT-7.5"), so that the order of their notice ids ("TT-7.5/…" before
        // "TT-7/…") is not the order of the case ids.
        let work = (0..<3000).map { index -> (id: String, subject: Case, before: EscalationState) in
            let subject = story.shifted(by: Double(index * 420), id: index % 2 == 0 ? "TT-\(index / 2)" : "TT-\(index / 2).5")
            return (subject.id, subject, .empty)
        }
        let now = story.openedAt + Double(3000 * 420) + 12 * 86_400
        // Handed packed, as the daemon hands them: a third with no state, a third with the state of an evaluation four
        // days before, a third with the state of one at the same instant (which the evaluation leaves as it is).
        let jobs = work.enumerated().map { index, item in
            let before = index % 3 == 0 ? item.before : Engine.evaluate(item.subject, rules: rules, state: .empty, now: now - Double(index % 3 - 1) * 4 * 86_400).state
            return EscalationLoop.Job(id: item.id, record: PackedCase(item.subject), packedBefore: PackedState(before, caseID: item.id), plainBefore: nil)
        }
        let together = EscalationLoop.evaluateAll(jobs, rules: rules, now: now, pack: true, counted: nil)
        let befores = jobs.map { $0.packedBefore!.unpacked(caseID: $0.id) }
        let oneByOne = zip(work, befores).map { Engine.evaluate($0.subject, rules: rules, state: $1, now: now) }
        #expect(together.count == oneByOne.count)
        #expect(together.map(\.evaluation.notices) == oneByOne.map(\.notices))
        #expect(together.map(\.evaluation.state) == oneByOne.map(\.state))
        #expect(together.map(\.evaluation.nextDeadline) == oneByOne.map(\.nextDeadline))
        #expect(together.map(\.subject) == work.map(\.subject))
        // Each packed, compared and counted on its core, for that case's own state.
        #expect(zip(together, work).allSatisfy { result, item in result.packed?.unpacked(caseID: item.id) == result.evaluation.state })
        #expect(together.map(\.stateChanged) == zip(oneByOne, befores).map { $0.state != $1 })
        #expect(together.contains { !$0.stateChanged } && together.contains(where: \.stateChanged), "both kinds are covered")
        #expect(together.map(\.earliestBreach) == oneByOne.map { EscalationLoop.earliestBreach(of: $0.state, counted: nil) })
        #expect(together.contains { $0.earliestBreach != nil })

        // A tick over the same cases hands over every notice, each with its case and state, in (due time, id) order
        // across the cases, notices due at the same time included.
        var loop = EscalationLoop(packsStates: true)
        for item in work { loop.markChanged(item.id) }
        let packedCases = Dictionary(uniqueKeysWithValues: work.map { ($0.id, PackedCase($0.subject)) })
        let ticked = loop.tick(at: now, rules: rules) { packedCases[$0] }
        let fresh = work.map { Engine.evaluate($0.subject, rules: rules, state: .empty, now: now) }
        #expect(ticked.map(\.notice) == fresh.flatMap(\.notices).sorted { ($0.dueAt, $0.id) < ($1.dueAt, $1.id) })
        #expect(Set(ticked.map(\.notice.dueAt)).count < ticked.count - 100, "many notices share a time")
        let freshByID = Dictionary(uniqueKeysWithValues: zip(work.map(\.id), fresh))
        #expect(ticked.allSatisfy { $0.subject == packedCases[$0.notice.caseID]?.unpacked() && $0.state == freshByID[$0.notice.caseID]?.state })
        #expect(oneByOne.reduce(0) { $0 + $1.notices.count } > 3000, "the copies escalate")
    }
}

extension EscalationLoopTests {
    /// A tick with a limit takes the lowest ids first and leaves the rest pending; the rest, and what changes
    /// meanwhile, all come in later ticks, each once; a case forgotten meanwhile does not.
    @Test func aLimitedTickLeavesTheRestForTheNextAndLosesNothing() throws {
        let rules = try #require(ConfigLoader.load(directory: "\(repositoryRoot)/Config").configuration).rules
        var loop = EscalationLoop()
        let ids = (0..<1000).map { "C\(String($0).leftPadded(4))" }
        for id in ids.reversed() { loop.markChanged(id) }
        var seen: [String] = []
        let now = DemoStory.order.openedAt
        _ = loop.tick(at: now, rules: rules, limit: 300) { (id: String) -> Case? in
            seen.append(id)
            return nil
        }
        #expect(seen == Array(ids.prefix(300)))
        #expect(loop.pendingChanges == 700 && loop.hasWork(at: now) && loop.isPending("C0999"))
        loop.forget("C0500")
        loop.markChanged("A-new")
        loop.markChanged("C0100")
        loop.markChanged("C0400")  // already pending: still evaluated once
        var rounds = 1
        while loop.hasWork(at: now) {
            _ = loop.tick(at: now, rules: rules, limit: 300) { (id: String) -> Case? in
                seen.append(id)
                return nil
            }
            rounds += 1
        }
        #expect(rounds == 4)
        #expect(seen.count == 1000 - 1 + 2)
        #expect(Set(seen).count == 1000)  // C0100 twice, A-new once, C0500 never
        #expect(!seen.contains("C0500") && seen.filter { $0 == "C0100" }.count == 2 && seen.contains("A-new"))
        #expect(seen.filter { $0 == "C0400" }.count == 1)
        #expect(loop.pendingChanges == 0)
    }
}

@Suite struct DemoTests {
    @Test func theDemoWritesADatabaseAndAConfigurationThatLoadsAndReadsIt() async throws {
        let directory = try TemporaryDirectory("escalator-demo")
        defer { directory.remove() }
        let demo = Demo(rulesDirectory: "\(repositoryRoot)/Config", outputDirectory: directory.path)
        let configuration = try demo.prepare()
        #expect(configuration.source?.path == "\(directory.path)/orders.db")
        #expect(configuration.mail?.spool == "\(directory.path)/live/spool")
        #expect(configuration.state.directory == "\(directory.path)/live/state")
        let source = try CaseSources.open(try #require(configuration.source))
        let batch = try await source.readAll(asOf: nil)
        await source.close()
        #expect(batch.problems.isEmpty, "\(batch.problems.prefix(3))")
        #expect(batch.cases.count == Demo.backgroundOrders + 1)
        let story = try #require(batch.cases.first { $0.id == "TT-1001" })
        #expect(story.activity.count == DemoStory.order.activity.count)
        // Read back through the database, the story escalates exactly as it does in memory.
        var fromDatabase: [String] = []
        Simulation.run(cases: [story], rules: configuration.rules, from: DemoStory.day(1, "00:00"), to: DemoStory.day(20, "00:00"), step: 900) { notice, _, _ in
            fromDatabase.append("\(notice.dueAt) \(notice.id)")
        }
        var inMemory: [String] = []
        Simulation.run(cases: [DemoStory.order], rules: configuration.rules, from: DemoStory.day(1, "00:00"), to: DemoStory.day(20, "00:00"), step: 900) { notice, _, _ in
            inMemory.append("\(notice.dueAt) \(notice.id)")
        }
        #expect(fromDatabase == inMemory)
        #expect(fromDatabase.first { $0.contains("/lay-out-proof/") && $0.hasSuffix("step2") } != nil)
    }

    @Test func noticesAsJSONLinesCarryTheContractFields() throws {
        let rules = try #require(ConfigLoader.load(directory: "\(repositoryRoot)/Config").configuration).rules
        var lines: [String] = []
        Simulation.run(cases: [DemoStory.order], rules: rules, from: DemoStory.day(1, "00:00"), to: DemoStory.day(3, "12:00"), step: 900) { notice, _, _ in
            lines.append(Simulation.json(notice, rules: rules))
        }
        let first = try #require(lines.first.flatMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] })
        #expect(first["at"] as? String == "2026-03-03T16:00:00+08:00")
        #expect(first["case"] as? String == "TT-1001" && first["policy"] as? String == "keep-customer-informed")
        #expect(first["step"] as? Int == 1 && first["trigger"] as? String == "warn")
        #expect(first["to"] as? [String] == ["rep3"] && first["cc"] as? [String] == [])
        #expect((first["notice_id"] as? String)?.hasPrefix("TT-1001/keep-customer-informed/") == true)
        // Every line is valid JSON with sorted keys, and a hostile text survives the round trip.
        for line in lines { #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil, "\(line)") }
        let keys = try #require(first.keys.sorted() as [String]?)
        #expect(lines[0].hasPrefix("{\"at\":") && keys.first == "at")
        let hostile = "a\"b\\c\nd\u{1}e/é"
        let quoted = Simulation.quoted(hostile)
        #expect(try JSONSerialization.jsonObject(with: Data("[\(quoted)]".utf8)) as? [String] == [hostile])
    }
}

@Suite struct RuleTestTests {
    static var shippedTests: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(repositoryRoot)/Config/tests")) ?? []).filter { $0.hasSuffix(".yaml") }.sorted()
    }

    /// The shipped rules pass their own rule tests (what `escalator test Config/tests/*.yaml` runs).
    @Test(arguments: shippedTests)
    func theShippedRulesPassTheirTests(name: String) throws {
        let (test, diagnostics) = RuleTestFile.load("\(repositoryRoot)/Config/tests/\(name)")
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let file = try #require(test)
        let rules = try #require(ConfigLoader.load(directory: file.rules).configuration).rules
        let outcome = RuleTest.run(file, rules: rules)
        #expect(outcome.passed, "\(outcome.diff)")
        #expect(!file.expected.isEmpty)
    }

    @Test func aBrokenRuleFailsWithADiff() throws {
        let copy = try TemporaryDirectory("escalator-ruletest")
        defer { copy.remove() }
        try FileManager.default.removeItem(atPath: copy.path)
        try FileManager.default.copyItem(atPath: "\(repositoryRoot)/Config", toPath: copy.path)
        let policies = "\(copy.path)/rules.d/40-policies.yaml"
        let text = try String(contentsOfFile: policies, encoding: .utf8)
        try text.replacingOccurrences(of: "    since: last(customer_update)        # the company's last message to the customer (or the order date)\n    breach_after: 2 business days",
                                      with: "    since: last(customer_update)\n    breach_after: 3 business days")
            .write(toFile: policies, atomically: true, encoding: .utf8)
        let file = try #require(RuleTestFile.load("\(copy.path)/tests/keep-customer-informed.yaml").file)
        let rules = try #require(ConfigLoader.load(directory: file.rules).configuration).rules
        let outcome = RuleTest.run(file, rules: rules)
        #expect(!outcome.passed)
        #expect(outcome.diff.contains("- 2026-03-04T04:00:00Z T-SILENT keep-customer-informed step 2 breach to [rep3] cc [rep5]"))
        #expect(outcome.diff.contains("+ 2026-03-05T04:00:00Z T-SILENT keep-customer-informed step 2 breach to [rep3] cc [rep5]"))
    }

    @Test func aBadTestFileIsDiagnosedWithItsLine() throws {
        let directory = try TemporaryDirectory("escalator-ruletest-bad")
        defer { directory.remove() }
        try """
            cases:
              - id: X
                opened_at: yesterday
                activity:
                  - { kind: customer_mesage, at: 2026-03-02T10:00:00+08:00 }
            evaluate: { from: 2026-03-02T00:00:00+08:00, to: 2026-03-03T00:00:00+08:00 }
            """.write(toFile: "\(directory.path)/t.yaml", atomically: true, encoding: .utf8)
        let (file, diagnostics) = RuleTestFile.load("\(directory.path)/t.yaml")
        #expect(file == nil)
        #expect(diagnostics.map { "\($0)".replacingOccurrences(of: directory.path + "/", with: "") } == [
            "t.yaml:3:16: error: opened_at \"yesterday\" is not an ISO 8601 instant with an offset, e.g. 2026-03-02T11:30:00+08:00",
            "t.yaml:5:17: error: unknown activity kind \"customer_mesage\"; did you mean \"customer_message\"?",
        ])
    }
}

@Suite struct ExplanationTests {
    @Test func explainsPoliciesClocksTakenStepsAndTheNextOne() throws {
        let rules = try #require(ConfigLoader.load(directory: "\(repositoryRoot)/Config").configuration).rules
        let explanation = Explanation(subject: DemoStory.order, rules: rules, at: DemoStory.day(11, "10:30"))
        let text = explanation.text()
        #expect(text.contains("lay-out-proof (deadline, calendar store-hours): does not apply\n  ✓ kind = custom-order (kind = custom-order)\n  ✗ until activity.proof_sent: met"))
        #expect(text.contains("    taken: step 2 due Thu 2026-03-12 10:00 +08:00"))
        #expect(text.contains("    next: step 3 (escalate) at Thu 2026-03-12 14:00 +08:00 to rep5, cc rep3, prod"))
        let silence = try #require(explanation.assessments.first { $0.policy.name == "keep-customer-informed" }?.clocks.first)
        #expect(silence.elapsedSeconds == Int(18.5 * 3600) && silence.remainingSeconds == 0 && silence.pausedSeconds == 0)

        // The same as JSON.
        let object = try #require(try JSONSerialization.jsonObject(with: Data(explanation.json().utf8)) as? [String: Any])
        #expect(object["case"] as? String == "TT-1001" && object["steps_taken_from"] as? String == "replay")
        let policies = try #require(object["policies"] as? [[String: Any]])
        let layout = try #require(policies.first { $0["policy"] as? String == "lay-out-proof" })
        #expect(layout["applies"] as? Bool == false)
        #expect((layout["reasons"] as? [[String: Any]])?.last?["passed"] as? Bool == false)
        let clocks = policies.flatMap { ($0["clocks"] as? [[String: Any]]) ?? [] }
        let clock = try #require(clocks.first { ($0["taken"] as? [[String: Any]])?.contains { $0["due"] as? String == "2026-03-12T10:00:00+08:00" } == true })
        #expect((clock["taken"] as? [[String: Any]])?.contains { $0["step"] as? Int == 2 } == true)
        let next = try #require(clock["next"] as? [String: Any])
        #expect(next["step"] as? Int == 3 && next["at"] as? String == "2026-03-12T14:00:00+08:00" && next["to"] as? [String] == ["rep5"])
        let informed = try #require(policies.first { $0["policy"] as? String == "keep-customer-informed" }?["clocks"] as? [[String: Any]])
        #expect(informed.first?["elapsed_seconds"] as? Int == Int(18.5 * 3600))
    }
}

@Suite struct PlanTests {
    @Test func aRemovedPolicyShowsAsRemovedNoticesAndTheRestIsUnchanged() throws {
        let current = try #require(ConfigLoader.load(directory: "\(repositoryRoot)/Config").configuration).rules
        let dropped = "keep-customer-informed"
        let proposed = Rules(
            calendars: current.calendars, directory: current.directory, raci: current.raci,
            policies: current.policies.filter { $0.name != dropped })
        let story = DemoStory.order
        let now = DemoStory.day(3, "09:00")
        var state = EscalationState.empty
        Simulation.run(cases: [story], rules: current, from: story.openedAt, to: now, step: 900) { _, _, new in state = new }
        let subject = try #require(story.asOf(now))
        let plan = Plan(cases: [subject], current: current, proposed: proposed, states: [story.id: state], now: now, horizon: 3 * 86_400)
        #expect(plan.count(.removed) > 0)
        #expect(plan.lines.filter { $0.change == .removed }.allSatisfy { $0.notice.policy == dropped })
        #expect(plan.count(.added) == 0)
        #expect(plan.lines.filter { $0.change == .unchanged }.allSatisfy { $0.notice.policy != dropped })
        #expect(plan.count(.unchanged) > 0)
        #expect(plan.currentCount == plan.count(.removed) + plan.count(.unchanged))
        // Steps already taken are not planned again.
        let taken = Set(state.occurrences.flatMap { occurrence in occurrence.taken.compactMap(\.noticeID) })
        #expect(!taken.isEmpty)
        #expect(plan.lines.allSatisfy { !taken.contains($0.notice.id) })
    }

    @Test func aShorterBreachShowsAsAddedNoticesDueAtOnce() throws {
        let directory = try TemporaryDirectory("escalator-plan")
        defer { directory.remove() }
        try FileManager.default.copyItem(atPath: "\(repositoryRoot)/Config", toPath: "\(directory.path)/new")
        let policies = "\(directory.path)/new/rules.d/40-policies.yaml"
        let text = try String(contentsOfFile: policies, encoding: .utf8)
        try text.replacingOccurrences(of: "breach_after: 4 business hours", with: "breach_after: 1 business hours")
            .write(toFile: policies, atomically: true, encoding: .utf8)
        let current = try #require(ConfigLoader.load(directory: "\(repositoryRoot)/Config").configuration).rules
        let proposed = try #require(ConfigLoader.load(directory: "\(directory.path)/new").configuration).rules
        // Find an instant when the story has an unanswered customer message more than an hour old.
        let story = DemoStory.order
        // The daemon's state under the current rules, advanced a tick at a time.
        var found: Plan?
        var loop = EscalationLoop()
        var now = story.openedAt
        while found == nil && now < DemoStory.day(54, "00:00") {
            loop.markChanged(story.id)
            _ = loop.tick(at: now, rules: current) { _ in story.asOf(now) }
            if let subject = story.asOf(now), Int(now.timeIntervalSince(story.openedAt)) % 3600 == 0 {
                let plan = Plan(cases: [subject], current: current, proposed: proposed, states: loop.state(of: story.id).map { [story.id: $0] } ?? [:], now: now + 1, horizon: 3600)
                if plan.lines.contains(where: { $0.change == .added && $0.immediate }) { found = plan }
            }
            now += 900
        }
        let plan = try #require(found)
        #expect(plan.lines.filter { $0.change == .added }.allSatisfy { $0.notice.policy == "answer-the-customer" })
    }
}

extension EscalationLoopTests {
    /// A packing loop hands the store the states its ticks left without unpacking them again, a bounded number of
    /// them; whatever the bound, and however many ticks pass before a drain, each state handed over is the case's
    /// state as it is then.
    @Test func drainedStatesAreTheLatestWhateverTheBound() throws {
        let rules = try #require(ConfigLoader.load(directory: "\(repositoryRoot)/Config").configuration).rules
        let story = DemoStory.order
        let ids = ["A", "B", "C", "D"]
        let cases = Dictionary(uniqueKeysWithValues: ids.map { id in
            (id, Case(
                id: id, kind: story.kind, status: story.status, owner: story.owner, openedAt: story.openedAt, promisedAt: story.promisedAt,
                closedAt: nil, attributes: story.attributes, activity: story.activity))
        })
        for bound in [0, 2, 16_384] {
            var loop = EscalationLoop(packsStates: true, shelf: try Shelf(directory: NSTemporaryDirectory()))
            loop.touchedStatesKept = bound
            var changedStates = 0
            for (round, days) in [3.0, 6, 9, 12].enumerated() {
                let now = story.openedAt + days * 86_400
                for id in ids { loop.markChanged(id) }
                _ = loop.tick(at: now, rules: rules) { cases[$0].flatMap { $0.asOf(now) }.map(PackedCase.init) }
                // Drained after every other round: twice the states change before the store is told.
                guard round % 2 == 1 else { continue }
                let drained = loop.drainTouched()
                #expect(drained.map(\.id) == ids)
                for (id, state, deadline) in drained {
                    #expect(state == loop.state(of: id) && deadline == loop.deadline(of: id), "bound \(bound), \(id)")
                    changedStates += state.occurrences.count
                }
            }
            #expect(changedStates > 0)
        }
    }
}

extension EscalationLoopTests {
    /// The cases evaluated together on one core share the recipients they resolve (per owner, kind and the values
    /// of the columns that name a party); each still gets exactly the recipients it gets evaluated alone. Checked
    /// with the shipped RACI, which names the informed party by the `sales_rep` column, and with the same RACI
    /// naming a person instead, across owners (a valid one, one not in the directory, none), kinds (with their own
    /// RACI entry or the default) and sales reps (two people, one not in the directory, none).
    @Test func casesEvaluatedTogetherShareRecipientsAndEachGetsItsOwn() throws {
        let shipped = try #require(ConfigLoader.load(directory: "\(repositoryRoot)/Config").configuration).rules
        #expect(shipped.raci.columnsRead == ["sales_rep"], "the shipped rules name a party by a column")
        var byKind = shipped.raci.byKind
        byKind["custom-order"]?.informed = [.person("rep4")]
        let byPerson = Rules(
            calendars: shipped.calendars, directory: shipped.directory,
            raci: Raci(byKind: byKind, fallback: shipped.raci.fallback, fallbackOwner: shipped.raci.fallbackOwner),
            policies: shipped.policies)
        #expect(byPerson.raci.columnsRead.isEmpty)
        let story = DemoStory.order
        let owners: [String?] = ["rep3", "rep4", "rep6", "nobody", nil]
        let kinds: [String?] = ["custom-order", "stock-order", nil]
        // Counts prime to each other's: every combination of owner, kind and sales rep occurs.
        let salesReps: [String?] = ["rep4", "rep6", "ghost", nil]
        let jobs = (0..<1200).map { index -> EscalationLoop.Job<Case> in
            var subject = story.shifted(by: Double(index * 600), id: "SR-\(index)")
            subject.kind = kinds[index % kinds.count]
            subject.owner = owners[index % owners.count]
            subject.closedAt = nil
            subject.attributes = salesReps[index % salesReps.count].map { ["sales_rep": $0] } ?? [:]
            // Without assignments, the owner is the row's throughout.
            subject.activity.removeAll { $0.kind == .assignment }
            return EscalationLoop.Job(id: subject.id, record: subject, packedBefore: nil, plainBefore: nil)
        }
        let now = story.openedAt + 1200 * 600 + 10 * 86_400
        let outcomes = [shipped, byPerson].map { rules in
            let together = EscalationLoop.evaluateAll(jobs, rules: rules, now: now, pack: false, counted: nil)
            let alone = jobs.map { Engine.evaluate($0.record, rules: rules, state: .empty, now: now) }
            let differing = zip(together, alone).filter { $0.evaluation.notices != $1.notices }.map(\.1.notices.first?.caseID)
            #expect(together.count == alone.count && differing.isEmpty, "cases whose notices differ: \(differing.prefix(5))")
            let notices = alone.flatMap(\.notices)
            let addressed = Set(notices.flatMap { ($0.to + $0.cc).map(\.id) })
            #expect(addressed.isSuperset(of: ["rep3", "rep4", "rep6", "rep5", "mgr1"]), "\(addressed)")
            #expect(notices.contains { !$0.unresolved.isEmpty }, "a case with no valid owner names what it could not resolve")
            return together
        }
        // With the shipped rules, the sales rep of a custom order is informed when the manager is told, and a
        // sales rep not in the directory is named as unresolved: the column's value reaches the recipients.
        let customNotices = zip(jobs, outcomes[0]).filter { $0.0.record.kind == "custom-order" }.flatMap(\.1.evaluation.notices)
        #expect(Set(customNotices.flatMap(\.cc).filter { $0.role == "informed" }.map(\.id)) == ["rep4", "rep6"])
        #expect(customNotices.contains { $0.unresolved.contains { $0.hasPrefix("informed") } })
    }
}

@Suite struct RepeatWalkTests {
    /// Evaluating, the engine leaves out the steps a clock has taken and resumes its repeat walk from the latest
    /// repeat taken; explaining, it places the whole ladder and walks every repeat from the top step. Followed from
    /// deadline to deadline for two months, cases weeks past their breach get from evaluation exactly the next
    /// deadline and the steps that the whole schedule gives.
    @Test func evaluationResumingTheRepeatWalkAgreesWithTheWholeSchedule() throws {
        let rules = try #require(ConfigLoader.load(directory: "\(repositoryRoot)/Config").configuration).rules
        let story = DemoStory.order
        var repeatsSeen = 0
        var longestWalk = 0
        for copy in 0..<12 {
            let subject = story.shifted(by: -Double(copy) * 3.5 * 86_400, id: "RW-\(copy)")
            var state = EscalationState.empty
            var now = subject.openedAt
            let end = story.openedAt + 60 * 86_400
            while now < end {
                let seen = try #require(subject.asOf(now))
                // What the whole schedule says: every step not yet taken, with when it may be sent.
                var untaken: [(policy: String, step: Int, repeatNumber: Int, effective: Date)] = []
                for assessment in Engine.assess(seen, rules: rules, state: state, now: now) where assessment.applies {
                    for clock in assessment.clocks {
                        let open = state.occurrences.last { $0.policy == assessment.policy.name && $0.clock == clock.key && $0.clearedAt == nil }
                        for step in clock.schedule where !(open?.taken.contains { $0.step == step.step && $0.repeatNumber == step.repeatNumber } ?? false) {
                            untaken.append((assessment.policy.name, step.step, step.repeatNumber, step.effective))
                        }
                        longestWalk = max(longestWalk, clock.schedule.map(\.repeatNumber).max() ?? 0)
                    }
                }
                let evaluation = Engine.evaluate(seen, rules: rules, state: state, now: now)
                #expect(evaluation.nextDeadline == untaken.filter { $0.effective > now }.map(\.effective).min(), "\(subject.id) at \(now)")
                for notice in evaluation.notices where notice.trigger != .clear {
                    #expect(untaken.contains { $0.policy == notice.policy && $0.step == notice.step && $0.repeatNumber == notice.repeatNumber && $0.effective == notice.dueAt && $0.effective <= now })
                    if notice.repeatNumber > 0 { repeatsSeen += 1 }
                }
                state = evaluation.state
                guard let next = evaluation.nextDeadline else { break }
                now = max(next, now + 1)
            }
        }
        #expect(repeatsSeen > 100, "the cases repeat")
        #expect(longestWalk > 10, "the whole schedule walks many repeats")
    }
}
