import ArgumentParser
import EscalatorConfig
import EscalatorCore
import EscalatorOutputs
import EscalatorRuntime
import EscalatorSources
import EscalatorState
import Foundation

struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Preview a rule change against the live source: the notices the new rules would send, next to the current ones.",
        discussion: """
            Reads the cases once (through the current configuration's source unless the new one has its own), \
            starts from what the daemon has already sent (its state store, when readable; otherwise a replay under \
            the current rules), and runs both rule sets from now to the horizon. Lines start with + (only under \
            the new rules), - (only under the current ones) or a space (unchanged). Exits 0 either way.
            """)

    @Option(help: "The proposed configuration directory.") var config: String
    @Option(help: "The configuration in force.") var current: String = "/etc/escalator"
    @Option(help: "How far ahead to look, e.g. 24h or 7d.") var horizon: String = "24h"
    @Option(help: "text or json (one object per notice, with \"change\").") var format: DemoCommand.OutputFormat = .text
    @Flag(help: "Also list the notices that do not change.") var all = false

    func run() async throws {
        guard case .success(let span) = Span.parse(horizon), !span.isBusiness, let seconds = span.fixedSeconds, seconds > 0 else {
            throw ValidationError("--horizon must be a wall-clock duration such as 24h or 7d")
        }
        let proposed = try load(config, "proposed")
        let inForce = try load(current, "current")
        guard let settings = proposed.source ?? inForce.source else {
            print("plan: neither configuration has a source section", to: &standardError)
            throw ExitCode.failure
        }
        let read = try await readEveryCase(settings, command: "plan")
        let batch = read.batch
        // Both rule sets with the directory query's people, as the daemon would have them; a problem both
        // combinations have is said once.
        var reported: Set<String> = []
        let proposedRules = read.rules(proposed.rules, command: "plan", reported: &reported)
        let currentRules = read.rules(inForce.rules, command: "plan", reported: &reported)
        let now = Date()
        var states: [String: EscalationState]
        var origin = "the daemon's state store"
        let store = try? await EscalationStores.open(inForce.state, for: .read)
        let recorded = try? await store?.loadStates()
        await store?.close()
        if let recorded {
            states = recorded
        } else {
            origin = "a replay under the current rules"
            states = [:]
            for subject in batch.cases {
                var state = EscalationState.empty
                Simulation.run(cases: [subject], rules: currentRules, from: subject.openedAt, to: now, step: 900) { _, _, new in state = new }
                states[subject.id] = state
            }
        }
        let plan = Plan(cases: batch.cases, current: currentRules, proposed: proposedRules, states: states, now: now, horizon: TimeInterval(seconds))
        switch format {
        case .json:
            for line in plan.lines where all || line.change != .unchanged {
                let json = Simulation.json(line.notice, rules: line.change == .removed ? currentRules : proposedRules)
                print("{\"change\":\"\(line.change.rawValue)\",\"immediate\":\(line.immediate)," + json.dropFirst())
            }
        case .text:
            print("Plan: \(config) against \(current) over \(batch.cases.count) cases, now to +\(horizon); steps already taken from \(origin).")
            for (title, immediate) in [("Due at once after the change:", true), ("Within \(horizon):", false)] {
                let lines = plan.lines.filter { $0.immediate == immediate && (all || $0.change != .unchanged) }
                print("\n\(title)\(lines.isEmpty ? " no change" : "")")
                for line in lines {
                    let mark = line.change == .added ? "+" : line.change == .removed ? "-" : " "
                    print("\(mark) \(UTCTimestamp.format(line.notice.dueAt))  \(NoticeText.message(line.notice))")
                }
            }
            print("""

                \(plan.currentCount) notices under the current rules, \(plan.proposedCount) under the new: \
                \(plan.count(.added)) added, \(plan.count(.removed)) removed, \(plan.count(.unchanged)) unchanged.
                """)
        }
    }

    private func load(_ directory: String, _ which: String) throws -> Configuration {
        let result = ConfigLoader.load(directory: directory)
        for diagnostic in result.diagnostics { print(diagnostic, to: &standardError) }
        guard let configuration = result.configuration else {
            print("plan: the \(which) configuration \(directory) does not load", to: &standardError)
            throw ExitCode.failure
        }
        return configuration
    }
}
