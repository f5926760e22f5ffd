import EscalatorConfig
import EscalatorCore
import Foundation

/// Runs a rule unit test with the real loader and engine, and compares the notices with the expected ones.
public enum RuleTest {
    public struct Outcome: Sendable {
        public let missing: [RuleTestFile.Expected]
        public let unexpected: [RuleTestFile.Expected]
        public var passed: Bool { missing.isEmpty && unexpected.isEmpty }

        /// A readable diff: `-` expected but not produced, `+` produced but not expected.
        public var diff: String {
            (missing.map { "- \($0)" } + unexpected.map { "+ \($0)" }).joined(separator: "\n")
        }
    }

    public static func run(_ test: RuleTestFile, rules: Rules) -> Outcome {
        var produced: [RuleTestFile.Expected] = []
        Simulation.run(cases: test.cases, rules: rules, from: test.from, to: test.to, step: test.step) { notice, _, _ in
            produced.append(RuleTestFile.Expected(
                at: notice.dueAt, caseID: notice.caseID, policy: notice.policy, step: notice.step,
                trigger: notice.trigger.rawValue, to: notice.to.map(\.id), cc: notice.cc.map(\.id)))
        }
        // An expectation without cc matches whatever the cc was.
        var unmatched = produced
        var missing: [RuleTestFile.Expected] = []
        for wanted in test.expected {
            if let index = unmatched.firstIndex(where: {
                $0.at == wanted.at && $0.caseID == wanted.caseID && $0.policy == wanted.policy && $0.step == wanted.step
                    && $0.trigger == wanted.trigger && $0.to == wanted.to && (wanted.cc == nil || $0.cc == wanted.cc)
            }) {
                unmatched.remove(at: index)
            } else {
                missing.append(wanted)
            }
        }
        return Outcome(missing: missing, unexpected: unmatched)
    }
}
