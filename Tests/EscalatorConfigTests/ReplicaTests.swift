@testable import EscalatorCore
import EscalatorConfig
import EscalatorSources
import Foundation
import Testing

/// Each core that evaluates gets the rules built again from the bytes the load read (`Rules.withReplica`), so that the
/// cores do not count references on the same objects. A replica must decide exactly as the original does, must
/// share none of its storage, and must come from what was loaded, not from what the files say later.
@Suite struct ReplicaTests {
    /// Where a string's bytes are stored; nil for a short string, which is held inline and has no buffer to share.
    func buffer(_ text: String) -> UnsafeRawPointer? {
        var copy = text
        return copy.withUTF8 { text.utf8.count > 15 ? UnsafeRawPointer($0.baseAddress) : nil }
    }

    func loadedCopy() throws -> (directory: String, rules: Rules) {
        let directory = NSTemporaryDirectory() + "escalator-replica-\(UUID().uuidString.prefix(8))"
        try FileManager.default.copyItem(atPath: "\(repositoryRoot)/Config", toPath: directory)
        let rules = try #require(ConfigLoader.load(directory: directory).configuration).rules
        return (directory, rules)
    }

    /// What an evaluation decides, compared across rule sets.
    func decisions(_ rules: Rules) -> [String] {
        var state = EscalationState.empty
        var out: [String] = []
        for day in 1...12 {
            let now = DemoStory.day(day, "16:00")
            guard let subject = DemoStory.order.asOf(now) else { continue }
            let evaluation = Engine.evaluate(subject, rules: rules, state: state, now: now)
            state = evaluation.state
            out += evaluation.notices.map { "\($0.id) \($0.dueAt) \($0.to.map(\.email)) \($0.cc.map(\.email)) \($0.overdueSeconds)" }
            out.append("next \(evaluation.nextDeadline.map { "\($0)" } ?? "none")")
        }
        return out
    }

    @Test func eachCoreGetsRulesOfItsOwnThatDecideAsTheOriginal() throws {
        let (directory, rules) = try loadedCopy()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let name = try #require(rules.policies.map(\.name).first { $0.utf8.count > 15 })
        let email = try #require(rules.directory.people.values.map(\.email).first { $0.utf8.count > 15 })
        let expected = decisions(rules)
        #expect(expected.count > 12, "the story must send notices for the comparison to mean anything")

        var seen: [ObjectIdentifier] = []
        rules.withReplica { first in
            #expect(first.policies.map(\.name) == rules.policies.map(\.name))
            #expect(zip(first.policies, rules.policies).allSatisfy { $0 !== $1 })
            #expect(buffer(first.policies.first { $0.name == name }!.name) != buffer(name))
            #expect(buffer(first.directory.people.values.first { $0.email == email }!.email) != buffer(email))
            #expect(decisions(first) == expected)
            seen.append(ObjectIdentifier(first.policies[0]))
            // A second core, while the first holds its copy: another copy, or the original on a single core.
            rules.withReplica { second in
                #expect(second.policies[0] !== first.policies[0])
                if ProcessInfo.processInfo.activeProcessorCount > 1 {
                    #expect(second.policies[0] !== rules.policies[0])
                    #expect(decisions(second) == expected)
                    seen.append(ObjectIdentifier(second.policies[0]))
                } else {
                    #expect(second.policies[0] === rules.policies[0])
                }
            }
        }
        // Copies are kept and handed out again, never built anew for each call.
        for _ in 0..<5 {
            rules.withReplica { #expect(seen.contains(ObjectIdentifier($0.policies[0]))) }
        }
    }

    @Test func aReplicaIsBuiltFromTheBytesFirstReadWhateverTheFilesSayLater() throws {
        let (directory, rules) = try loadedCopy()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let holidays = try #require(rules.calendars["store-hours"]).holidays
        #expect(holidays.contains(LocalDate(year: 2026, month: 12, day: 25)), "Christmas comes from holidays.ics")
        // An operator edits the rules after the load: a replica must still be the rules in force.
        try FileManager.default.removeItem(atPath: "\(directory)/holidays.ics")
        let policies = "\(directory)/rules.d/40-policies.yaml"
        let text = try String(contentsOfFile: policies, encoding: .utf8)
        try (text + "\n  - name: added-after-the-load\n").write(toFile: policies, atomically: true, encoding: .utf8)
        try "policies: [".write(toFile: "\(directory)/rules.d/50-broken.yaml", atomically: true, encoding: .utf8)

        rules.withReplica { replica in
            #expect(replica.policies[0] !== rules.policies[0])
            #expect(replica.policies.map(\.name) == rules.policies.map(\.name))
            #expect(replica.calendars["store-hours"]?.holidays == holidays)
        }
    }

    @Test func rulesBuiltInCodeAreSharedForWantOfTextToBuildFrom() throws {
        let loaded = try #require(ConfigLoader.load(directory: "\(repositoryRoot)/Config").configuration).rules
        let plain = Rules(calendars: loaded.calendars, directory: loaded.directory, raci: loaded.raci, policies: loaded.policies)
        plain.withReplica { #expect($0.policies[0] === plain.policies[0]) }
        plain.adding(people: []).rules.withReplica { #expect($0.policies[0] === plain.policies[0]) }
    }

    @Test func peopleFromTheDirectoryQueryAreInEveryReplicaInStorageOfTheirOwn() throws {
        let (directory, rules) = try loadedCopy()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (merged, problems) = rules.adding(people: [
            Person(id: "rep9", name: "Company Rep 9 from the database", email: "rep9.from.the.database@trophy.example", supervisor: "rep5"),
            Person(id: "rep3", name: "Impostor", email: "impostor@trophy.example"),
        ])
        #expect(problems.isEmpty)
        let added = try #require(merged.directory["rep9"])
        merged.withReplica { replica in
            #expect(replica.policies[0] !== rules.policies[0])
            guard let copy = replica.directory["rep9"] else {
                Issue.record("the replica lacks the person the directory query added")
                return
            }
            #expect(copy == added)
            #expect(buffer(copy.email) != buffer(added.email))
            #expect(buffer(copy.name) != buffer(added.name))
            #expect(replica.directory.chain(above: "rep9").map(\.id) == ["rep5", "mgr1"])
            #expect(replica.directory["rep3"]?.name == "Company Rep 3")  // the rule files still win
        }
    }
}
