import ArgumentParser
import EscalatorConfig
import EscalatorCore
import EscalatorOutputs
import EscalatorState
import Foundation
import Systemd

/// What `ack` and `unack` share: the configuration, the state store, and a journal entry for each change.
struct AcknowledgementContext {
    let configuration: Configuration
    let store: any EscalationStore
    let events: EventWriter

    init(_ options: ConfigOptions) async throws {
        let result = ConfigLoader.load(directory: options.config)
        guard let configuration = result.configuration else {
            for diagnostic in result.diagnostics where diagnostic.severity == .error { print(diagnostic, to: &standardError) }
            throw ExitCode.failure
        }
        self.configuration = configuration
        do {
            store = try await EscalationStores.open(configuration.state, for: .write)
        } catch {
            print("\(error)", to: &standardError)
            throw ExitCode.failure
        }
        events = EventWriter(mode: Journal.isReachable ? .journal : EventWriter.automaticMode())
    }

    func validate(person: String, policy: String?) throws {
        if configuration.rules.directory[person] == nil && configuration.source?.directory == nil {
            let known = configuration.rules.directory.people.keys.sorted()
            throw ValidationError("--by \(person) is not a person of the rules\(known.isEmpty ? "" : " (e.g. \(known.prefix(5).joined(separator: ", ")))")")
        }
        if let policy, !configuration.rules.policies.contains(where: { $0.name == policy }) {
            throw ValidationError("--policy \(policy) is not a policy of the rules: \(configuration.rules.policies.map(\.name).joined(separator: ", "))")
        }
    }

    func record(_ message: String, caseID: String, policy: String?, by: String, extra: [(name: String, value: String)]) {
        var fields: [(name: String, value: String)] = [
            ("MESSAGE_ID", EventID.ack.messageID), ("ESCALATOR_CASE", caseID), ("ESCALATOR_ACK_BY", by),
        ]
        if let policy { fields.append(("ESCALATOR_POLICY", policy)) }
        events.write(priority: 5, message: message, fields: fields + extra)
        (store as? StateStore)?.matchDirectoryOwnership()
        // Wake the daemon so that it applies the change now, not at its next deadline. (An active instance on
        // another host sees it at its next tick, within 30 seconds.)
        if let pid = StateLock.runningHolder(directory: configuration.state.resolvedDirectory()) { kill(pid, SIGUSR1) }
        print(message)
    }
}

struct Ack: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Acknowledge a breached case: hold its further steps until a time. The running daemon honours it on its next tick.",
        discussion: """
            An acknowledgement holds the steps of breaches that happened before it, never a new breach. Run it as \
            root or as the escalator user; each acknowledgement is written to the journal.
            """)

    @OptionGroup var options: ConfigOptions
    @Argument(help: "The case id.") var caseID: String
    @Option(help: "Only this policy (default: every policy of the case).") var policy: String?
    @Option(help: "Who acknowledges (a person id of the rules).") var by: String
    @Option(help: "Hold until this instant (ISO 8601).") var until: String?
    @Option(name: .customLong("for"), help: "Hold for this long (wall-clock, e.g. 4h or 2d).") var duration: String?
    @Option(help: "Why, for the journal and the status.") var note: String?

    func validate() throws {
        if (until == nil) == (duration == nil) { throw ValidationError("give exactly one of --until and --for") }
        if caseID.isEmpty || caseID.contains(where: { $0.isNewline }) { throw ValidationError("the case id must be one non-empty line") }
    }

    func run() async throws {
        let now = Date()
        let end: Date
        if let until {
            guard let parsed = ISO8601DateFormatter().date(from: until), parsed > now else {
                throw ValidationError("--until must be a future ISO 8601 instant, e.g. 2026-03-12T17:00:00+08:00")
            }
            end = parsed
        } else {
            guard case .success(let span) = Span.parse(duration ?? ""), !span.isBusiness, let seconds = span.fixedSeconds, seconds > 0 else {
                throw ValidationError("--for must be a wall-clock duration such as 4h or 2d")
            }
            end = now.addingTimeInterval(TimeInterval(seconds))
        }
        let context = try await AcknowledgementContext(options)
        try context.validate(person: by, policy: policy)
        let oneLineNote = note?.split(whereSeparator: \.isNewline).joined(separator: " ")
        try await context.store.acknowledge(caseID: caseID, Acknowledgement(policy: policy, by: by, at: now, until: end, note: oneLineNote))
        let what = policy.map { "policy \($0)" } ?? "every policy"
        context.record(
            "Case \(caseID) acknowledged by \(by) (\(what)) until \(UTCTimestamp.format(end))\(oneLineNote.map { ": \($0)" } ?? "")",
            caseID: caseID, policy: policy, by: by, extra: [("ESCALATOR_ACK_UNTIL", UTCTimestamp.format(end))])
    }
}

struct Unack: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Withdraw a case's acknowledgements; the held steps come due on the daemon's next tick.")

    @OptionGroup var options: ConfigOptions
    @Argument(help: "The case id.") var caseID: String
    @Option(help: "Only this policy's acknowledgements (default: all of the case's).") var policy: String?
    @Option(help: "Who withdraws them (a person id of the rules).") var by: String

    func run() async throws {
        let context = try await AcknowledgementContext(options)
        try context.validate(person: by, policy: policy)
        let revoked = try await context.store.revoke(caseID: caseID, policy: policy, by: by, at: Date())
        guard !revoked.isEmpty else {
            print("case \(caseID) has no acknowledgement in force\(policy.map { " for policy \($0)" } ?? "")", to: &standardError)
            throw ExitCode.failure
        }
        context.record(
            "Case \(caseID): \(revoked.count) acknowledgement\(revoked.count == 1 ? "" : "s") withdrawn by \(by)",
            caseID: caseID, policy: policy, by: by, extra: [])
    }
}
