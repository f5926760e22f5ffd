import ArgumentParser
import EscalatorConfig
import EscalatorCore
import EscalatorSources
import Foundation

@main
struct Escalator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "escalator",
        abstract: "Escalates silent or overdue cases up the chain: owner, then supervisor, then manager.",
        subcommands: [DemoCommand.self, Run.self, Reload.self, Status.self, Ack.self, Unack.self, PlanCommand.self, Check.self, Simulate.self, Explain.self, TestCommand.self, Mail.self, Generate.self]
    )
}

/// Options shared by every subcommand that reads a configuration directory.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "The configuration directory (escalator.yaml and rules.d/).")
    var config: String = "/etc/escalator"
}

extension FileHandle: @retroactive TextOutputStream {
    public func write(_ string: String) { write(Data(string.utf8)) }
}

/// Standard error, for diagnostics.
nonisolated(unsafe) var standardError = FileHandle.standardError

/// What the tools that replay or preview read from the source: every case with its history, and the people of the
/// directory query (none when no query is configured).
struct SourceRead {
    let batch: SourceBatch
    let people: [Person]

    /// `rules` as the daemon uses them: with the people of the directory query added (the rule files win on the
    /// same id). Problems of the combined directory are printed as warnings, as the daemon logs them.
    func rules(_ rules: Rules, command: String) -> Rules {
        var reported: Set<String> = []
        return self.rules(rules, command: command, reported: &reported)
    }

    /// The same, printing only the problems not in `reported`, and adding those it prints: a tool that combines
    /// the people with two rule sets (`plan`) says each problem once.
    func rules(_ rules: Rules, command: String, reported: inout Set<String>) -> Rules {
        guard !people.isEmpty else { return rules }
        let (combined, problems) = rules.adding(people: people)
        for problem in problems where reported.insert(problem).inserted {
            print("\(command): warning: directory query: \(problem)", to: &standardError)
        }
        return combined
    }
}

/// Reads every case of the source once, and the directory query's people, for the tools that replay or preview,
/// and closes the source however the read ends. A failed read of the cases is reported as `COMMAND: error` and
/// exits 1; a failed directory query is a warning, and the rule files' people are used alone, as the daemon does
/// when it has read none before.
func readEveryCase(_ settings: SourceSettings, command: String) async throws -> SourceRead {
    let source = try CaseSources.open(settings)
    do {
        let batch = try await source.readAll(asOf: nil)
        var people: [Person] = []
        do {
            let directory = try await source.readDirectory()
            for problem in directory?.problems ?? [] { print("\(command): warning: directory query: \(problem)", to: &standardError) }
            people = directory?.people ?? []
        } catch {
            print("\(command): warning: directory query failed, using the rule files' people only: \(error)", to: &standardError)
        }
        await source.close()
        return SourceRead(batch: batch, people: people)
    } catch {
        await source.close()
        print("\(command): \(error)", to: &standardError)
        throw ExitCode.failure
    }
}
