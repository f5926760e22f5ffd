import ArgumentParser
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
