import ArgumentParser
import EscalatorConfig
import EscalatorCore
import EscalatorRuntime
import Foundation

struct TestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run rule unit tests: cases, a virtual clock, and the notices the rules must produce.",
        discussion: "Each FILE names the configuration it tests (rules:, default: the folder above it). A mismatch prints a diff (- expected, + produced) and exits 1.")

    @Argument(help: "Test files (YAML).") var files: [String]

    func run() async throws {
        var failed = 0
        for path in files {
            let (test, diagnostics) = RuleTestFile.load(path)
            for diagnostic in diagnostics { print(diagnostic, to: &standardError) }
            guard let test else {
                failed += 1
                continue
            }
            let loaded = ConfigLoader.load(directory: test.rules)
            guard let rules = loaded.configuration?.rules else {
                for diagnostic in loaded.diagnostics { print(diagnostic, to: &standardError) }
                print("FAIL \(path): the rules in \(test.rules) do not load")
                failed += 1
                continue
            }
            let outcome = RuleTest.run(test, rules: rules)
            if outcome.passed {
                print("ok   \(path): \(test.expected.count) notices as expected")
            } else {
                failed += 1
                print("FAIL \(path):\n\(outcome.diff)")
            }
        }
        print("\(files.count - failed) passed, \(failed) failed")
        if failed > 0 { throw ExitCode.failure }
    }
}
