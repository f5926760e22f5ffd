import ArgumentParser
import EscalatorConfig
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

/// Reads every case of the source once, for the tools that replay or preview, and closes the source however the
/// read ends. A failed read is reported as `COMMAND: error` and exits 1.
func readEveryCase(_ settings: SourceSettings, command: String) async throws -> SourceBatch {
    let source = try CaseSources.open(settings)
    do {
        let batch = try await source.readAll(asOf: nil)
        await source.close()
        return batch
    } catch {
        await source.close()
        print("\(command): \(error)", to: &standardError)
        throw ExitCode.failure
    }
}
