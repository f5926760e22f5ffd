import ArgumentParser
import EscalatorConfig
import EscalatorCore
import EscalatorOutputs
import EscalatorSources
import Foundation

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a configuration directory and report every problem in one pass.",
        discussion: """
            Prints PATH:LINE:COL: error|warning: message for each problem, then a one-line summary. Exits 1 on \
            errors, and on warnings too with --strict. With --connect it also reads the order database once \
            (read-only) and reports what it found.
            """)

    @OptionGroup var options: ConfigOptions

    @Flag(help: "Treat warnings as errors.")
    var strict = false

    @Flag(help: "Also connect to the configured source and read it once.")
    var connect = false

    func run() async throws {
        let result = ConfigLoader.load(directory: options.config)
        var diagnostics = result.diagnostics
        if let configuration = result.configuration {
            // The mail templates are part of the configuration: the daemon loads them the same way.
            diagnostics += NoticeRenderer.load(for: configuration).diagnostics
        }
        for diagnostic in diagnostics { print(diagnostic, to: &standardError) }
        let errors = diagnostics.errorCount
        let warnings = diagnostics.warningCount
        let counts = "\(errors) error\(errors == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s")"
        guard let configuration = result.configuration else {
            print("\(options.config): configuration not loaded (\(counts))")
            throw ExitCode.failure
        }
        print("\(options.config): \(configuration.summary) (\(counts))")
        var failed = errors > 0 || (strict && warnings > 0)
        if connect {
            failed = try await checkSource(configuration) || failed
        }
        if failed { throw ExitCode.failure }
    }

    /// Reads the source once; returns true if that failed.
    private func checkSource(_ configuration: Configuration) async throws -> Bool {
        guard let settings = configuration.source else {
            print("source: none configured", to: &standardError)
            return true
        }
        let source: any CaseSource
        do {
            source = try CaseSources.open(settings)
        } catch {
            print("source: \(error)", to: &standardError)
            return true
        }
        do {
            let batch = try await source.readAll(asOf: nil)
            for problem in batch.problems.prefix(50) { print("source: \(problem)", to: &standardError) }
            if batch.problems.count > 50 { print("source: … and \(batch.problems.count - 50) more problems", to: &standardError) }
            let activity = batch.cases.reduce(0) { $0 + $1.activity.count }
            var line = "source \(settings.driver.rawValue): \(batch.cases.count) cases, \(activity) activity rows, \(batch.problems.count) row problems"
            if let people = try await source.readDirectory() {
                line += ", \(people.people.count) people from the directory query"
                let (_, problems) = configuration.rules.adding(people: people.people)
                for problem in problems { print("source: directory: \(problem)", to: &standardError) }
            }
            print(line)
            await source.close()
            return false
        } catch {
            print("source: \(error)", to: &standardError)
            await source.close()
            return true
        }
    }
}
