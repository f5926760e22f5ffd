import ArgumentParser
import EscalatorConfig
import EscalatorCore
import EscalatorRuntime
import EscalatorSources
import EscalatorState
import Foundation

struct Explain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explain what the rules make of one case: which policies apply and why, the clocks, the steps taken and the next one.")

    @OptionGroup var options: ConfigOptions
    @Argument(help: "The case id.") var caseID: String
    @Option(help: "The instant to explain at (ISO 8601); default now.") var at: String?
    @Flag(help: "Reconstruct the steps taken by replay even when the daemon's state store is readable.") var replay = false
    @Option(help: "text or json.") var format: DemoCommand.OutputFormat = .text

    func run() async throws {
        let instant: Date
        if let at {
            guard let parsed = ISO8601DateFormatter().date(from: at) else { throw ValidationError("--at must be ISO 8601, e.g. 2026-03-12T10:00:00+08:00") }
            instant = parsed
        } else {
            instant = Date()
        }
        let result = ConfigLoader.load(directory: options.config)
        for diagnostic in result.diagnostics { print(diagnostic, to: &standardError) }
        guard let configuration = result.configuration, let settings = configuration.source else {
            print("explain: \(options.config) has no usable source section", to: &standardError)
            throw ExitCode.failure
        }
        let read = try await readEveryCase(settings, command: "explain")
        let batch = read.batch
        guard let subject = batch.cases.first(where: { $0.id == caseID }), subject.openedAt <= instant else {
            print("explain: no case \(caseID) open at \(UTCTimestamp.format(instant))", to: &standardError)
            throw ExitCode.failure
        }
        // Now, the daemon's record of what it sent is the truth; at another instant only a replay can say.
        var recorded: EscalationState?
        if at == nil && !replay, let store = try? await EscalationStores.open(configuration.state, for: .read) {
            // A case the daemon has no record of has taken no step.
            recorded = ((try? await store.state(caseID: caseID)) ?? nil) ?? .empty
            await store.close()
        }
        let explanation = Explanation(subject: subject, rules: read.rules(configuration.rules, command: "explain"), at: instant, recorded: recorded)
        print(format == .json ? explanation.json() : explanation.text())
    }
}
