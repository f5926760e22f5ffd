import EscalatorConfig
import EscalatorCore
import Foundation
import Testing

/// The repository root, found from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
let fixtures = "\(repositoryRoot)/Tests/EscalatorConfigTests/Fixtures"

func fixtureNames(_ group: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: "\(fixtures)/\(group)")) ?? []).sorted()
}

/// The diagnostics of a configuration directory as `check` prints them, with the directory prefix removed.
func diagnostics(_ directory: String) -> [String] {
    ConfigLoader.load(directory: directory).diagnostics.map { "\($0)".replacingOccurrences(of: "\(directory)/", with: "") }
}

func expected(_ directory: String) throws -> [String] {
    try String(contentsOfFile: "\(directory)/expected.txt", encoding: .utf8).split(separator: "\n").map(String.init)
}

@Suite struct ConfigLoaderTests {
    @Test func thereAreEnoughFixtures() {
        #expect(fixtureNames("bad").count >= 25)
        #expect(fixtureNames("good").count >= 3)
    }

    /// Each bad configuration yields exactly the diagnostics in its expected.txt, and does not load.
    @Test(arguments: fixtureNames("bad"))
    func badConfiguration(name: String) throws {
        let directory = "\(fixtures)/bad/\(name)"
        #expect(diagnostics(directory) == (try expected(directory)))
        let result = ConfigLoader.load(directory: directory)
        #expect(result.diagnostics.errorCount > 0 || result.diagnostics.warningCount > 0)
        if result.diagnostics.errorCount > 0 { #expect(result.configuration == nil) }
    }

    /// Each good configuration loads, with exactly the warnings in its expected.txt.
    @Test(arguments: fixtureNames("good"))
    func goodConfiguration(name: String) throws {
        let directory = "\(fixtures)/good/\(name)"
        #expect(diagnostics(directory) == (try expected(directory)))
        #expect(ConfigLoader.load(directory: directory).configuration != nil)
    }

    @Test func aMultiFileConfigurationLoadsWhatItSays() throws {
        let configuration = try #require(ConfigLoader.load(directory: "\(fixtures)/good/02-multi-file").configuration)
        let rules = configuration.rules
        #expect(configuration.files.map { ($0 as NSString).lastPathComponent } == ["escalator.yaml", "10-calendars.yaml", "20-people.yaml", "30-policies.yaml"])
        #expect(rules.policies.map(\.name) == ["fix-fast", "quiet-customer", "stalled", "promises", "leftovers"])
        let office = try #require(rules.calendars["office"])
        #expect(office.weekly[0].map(\.description) == ["08:00-12:00", "13:00-17:00"])
        #expect(office.weekly[4].map(\.description) == ["08:00-12:00"])
        #expect(office.weekly[5].isEmpty)
        #expect(office.holidays.contains(LocalDate(iso: "2026-11-26")!))  // from the iCalendar file
        #expect(rules.calendars["always"]?.isAlwaysOpen == true)
        let fix = rules.policies[0]
        #expect(fix.calendar.name == "office")  // from defaults.calendar
        #expect(fix.warning == .before(Span(2, .hours, business: true)))
        #expect(fix.until.map(\.description) == ["activity.fixed", "closed", "status not in [open, in_repair]"])
        #expect(fix.appliesTo.clauses.map { "\($0.field) \($0.test)" } == ["kind = repair", "attributes.priority in [high, urgent]", "owner is set"])
        #expect(fix.ladder.repeatEvery == .wall(seconds: 14_400))
        #expect(fix.ladder.onClear == .nobody)
        #expect(fix.ladder.steps.map(\.label) == ["warn + 30m", "breach", "breach + 2h"])
        #expect(fix.ladder.steps[2].quietHours == false)
        #expect(rules.policies[1].calendar.name == "always")
        #expect(rules.raci.byKind["repair"]?.informed == [.person("ann"), .column("watcher")])
        #expect(rules.raci.fallback.accountable == [.person("bob")])
        #expect(rules.directory["ann"]?.calendar == "office")
        #expect(rules.directory["ann"]?.name == "Ann Émile")
    }

    @Test func theShippedConfigurationPassesStrictCheck() throws {
        let result = ConfigLoader.load(directory: "\(repositoryRoot)/Config")
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        let configuration = try #require(result.configuration)
        #expect(configuration.summary == "2 calendars, 6 people, 1 RACI kind, 8 policies from 5 files")
        let measures = Set(configuration.rules.policies.map(\.measure.name))
        #expect(measures == ["deadline", "silence", "response", "promise", "stall", "unowned", "obligation"])
    }

    /// The issue's acceptance check: an unknown top-level key appended to the shipped escalator.yaml.
    @Test func anUnknownTopLevelKeyInTheShippedConfigurationIsNamedWithASuggestion() throws {
        let copy = try copyOfShippedConfig()
        defer { try? FileManager.default.removeItem(atPath: copy) }
        let main = "\(copy)/escalator.yaml"
        let original = try String(contentsOfFile: main, encoding: .utf8)
        let line = original.split(separator: "\n", omittingEmptySubsequences: false).count
        try (original + "polices:\n  - name: typo\n").write(toFile: main, atomically: true, encoding: .utf8)
        #expect(diagnostics(copy) == ["escalator.yaml:\(line):1: error: unknown key \"polices\" in the top level; did you mean \"policies\"?"])
    }

    /// Bad input never crashes the loader: every mutation of the shipped files is answered with diagnostics
    /// that carry a file:line, or loads cleanly.
    @Test func mutatedConfigurationsAlwaysAnswerWithLocatedDiagnostics() throws {
        let copy = try copyOfShippedConfig()
        defer { try? FileManager.default.removeItem(atPath: copy) }
        let path = "\(copy)/rules.d/40-policies.yaml"
        let original = try String(contentsOfFile: path, encoding: .utf8)
        let lines = original.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var checked = 0
        for index in lines.indices where !lines[index].trimmingCharacters(in: .whitespaces).hasPrefix("#") {
            var mutants: [[String]] = []
            var deleted = lines
            deleted.remove(at: index)
            mutants.append(deleted)
            var indented = lines
            indented[index] = " " + indented[index]
            mutants.append(indented)
            var swapped = lines
            swapped[index] = swapped[index].replacingOccurrences(of: ": ", with: ": [") + "]"
            mutants.append(swapped)
            mutants.append(Array(lines[..<index]) + [String(lines[index].prefix(lines[index].count / 2))])
            for mutant in mutants {
                try mutant.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
                let result = ConfigLoader.load(directory: copy)
                for diagnostic in result.diagnostics {
                    #expect(diagnostic.line >= 1 && diagnostic.column >= 1 && diagnostic.file.hasPrefix(copy))
                }
                #expect(result.configuration != nil || result.diagnostics.errorCount > 0)
                checked += 1
            }
        }
        #expect(checked > 100)
    }

    func copyOfShippedConfig() throws -> String {
        let copy = NSTemporaryDirectory() + "escalator-config-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: "\(repositoryRoot)/Config", toPath: copy)
        return copy
    }
}

@Suite struct SourceSettingsLoadingTests {
    @Test func aPostgresSourceLoadsWithItsMappingAndNoSecretInline() throws {
        let configuration = try #require(ConfigLoader.load(directory: "\(fixtures)/good/04-directory-query").configuration)
        let source = try #require(configuration.source)
        #expect(source.driver == .postgres && source.host == "db.internal.example" && source.port == 5432)
        #expect(source.password == .credential("pg-password"))
        #expect(source.sslMode == .verifyFull)
        #expect(source.pollEvery == .wall(seconds: 30) && source.fullResyncEvery == .wall(seconds: 7200))
        #expect(source.change == .timestamp(column: "updated_at", overlap: .wall(seconds: 600)))
        #expect(source.activity?.column("case") == "order_id" && source.activity?.column("at") == "at")
        #expect(source.kindNames == ["email_in": .customerMessage, "email_out": .customerUpdate])
        #expect(source.timeZone.identifier == "Asia/Manila")
        #expect(configuration.rules.raci.fallbackOwner == "lead7")
    }

    @Test func aSharedPostgresStateLoadsWithItsClusterAndFailoverTime() throws {
        let configuration = try #require(ConfigLoader.load(directory: "\(fixtures)/good/05-shared-state").configuration)
        let state = configuration.state
        #expect(state.driver == .postgres && state.cluster == "shop_eu" && state.failoverAfter == .wall(seconds: 20))
        let server = try #require(state.postgres)
        #expect(server.host == "state-db.internal" && server.database == "escalator" && server.user == "escalator")
        #expect(server.password == .credential("escalator-state-password") && server.sslMode == .verifyFull)
        // Without a state section: SQLite, in the directory systemd gives.
        let plain = try #require(ConfigLoader.load(directory: "\(fixtures)/good/01-minimal").configuration).state
        #expect(plain.driver == .sqlite && plain.postgres == nil)
        #expect(plain.resolvedDirectory(environment: ["STATE_DIRECTORY": "/var/lib/escalator"]) == "/var/lib/escalator")
    }

    @Test func peopleFromTheDirectoryQueryJoinThoseOfTheRuleFiles() throws {
        let rules = try #require(ConfigLoader.load(directory: "\(fixtures)/good/04-directory-query").configuration).rules
        let (merged, problems) = rules.adding(people: [
            Person(id: "lead7", name: "Lead", email: "lead7@shop.example"),
            Person(id: "rep1", name: "Rep", email: "rep1@shop.example", supervisor: "lead7"),
            Person(id: "desk", name: "Impostor", email: "x@shop.example"),
            Person(id: "orphan", name: "Orphan", email: "o@shop.example", supervisor: "ghost"),
        ])
        #expect(merged.directory["desk"]?.name == "Service Desk")  // the rule files win
        #expect(merged.directory.chain(above: "rep1").map(\.id) == ["lead7"])
        #expect(problems == ["person orphan: supervisor ghost is not in the directory"])
    }

    @Test func aPasswordInARuleFileIsRefusedWithAHint() throws {
        let directory = NSTemporaryDirectory() + "escalator-pw-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try """
            source:
              driver: postgres
              password: hunter2
              cases: { query: SELECT * FROM orders }
            """.write(toFile: "\(directory)/escalator.yaml", atomically: true, encoding: .utf8)
        let shown = diagnostics(directory)
        #expect(shown.contains("escalator.yaml:3:3: error: unknown key \"password\" in \"source\"; a password never goes in a rule file; use password_file, password_credential or passfile"))
        #expect(!shown.joined().contains("hunter2"))
    }
}
