import ArgumentParser
import EscalatorConfig
import EscalatorCore
import Foundation

@main
struct Escalator: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "escalator",
        abstract: "Escalates silent or overdue cases up the chain: owner, then supervisor, then manager.",
        subcommands: [Check.self]
    )
}

/// Options shared by every subcommand that reads a configuration directory.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "The configuration directory (escalator.yaml and rules.d/).")
    var config: String = "/etc/escalator"
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a configuration directory and report every problem in one pass.",
        discussion: "Prints PATH:LINE:COL: error|warning: message for each problem, then a one-line summary. "
            + "Exits 1 on errors, and on warnings too with --strict.")

    @OptionGroup var options: ConfigOptions

    @Flag(help: "Treat warnings as errors.")
    var strict = false

    func run() throws {
        let result = ConfigLoader.load(directory: options.config)
        var standardError = FileHandle.standardError
        for diagnostic in result.diagnostics { print(diagnostic, to: &standardError) }
        let errors = result.diagnostics.errorCount
        let warnings = result.diagnostics.warningCount
        let counts = "\(errors) error\(errors == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s")"
        if let configuration = result.configuration {
            print("\(options.config): \(configuration.summary) (\(counts))")
        } else {
            print("\(options.config): configuration not loaded (\(counts))")
        }
        if errors > 0 || (strict && warnings > 0) { throw ExitCode.failure }
    }
}

extension FileHandle: @retroactive TextOutputStream {
    public func write(_ string: String) { write(Data(string.utf8)) }
}
