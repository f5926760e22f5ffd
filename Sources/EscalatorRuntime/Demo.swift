import EscalatorConfig
import EscalatorCore
import EscalatorOutputs
import EscalatorSources
import Foundation

/// The demo: the story order plus background orders in a real SQLite database, a configuration that reads it,
/// and the real engine run over the 54 days with real outputs (Maildir spool; the journal when one is reachable).
public struct Demo {
    public let rulesDirectory: String
    public let outputDirectory: String
    public static let backgroundOrders = 200
    /// How many generated orders surround the story (tests use fewer).
    public let background: Int

    public init(rulesDirectory: String, outputDirectory: String, background: Int = Demo.backgroundOrders) {
        self.rulesDirectory = rulesDirectory
        // Absolute: the configuration written into it names the database and the spool, and a configuration
        // resolves relative paths against its own folder, not against where the demo ran.
        self.outputDirectory = outputDirectory.hasPrefix("/")
            ? outputDirectory : "\(FileManager.default.currentDirectoryPath)/\(outputDirectory)"
        self.background = background
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public var configDirectory: String { "\(outputDirectory)/config" }
    /// Where `escalator run --config DIR/config` keeps its state and spool, apart from the demo's own emails.
    public var liveDirectory: String { "\(outputDirectory)/live" }
    public var databasePath: String { "\(outputDirectory)/orders.db" }
    public var spoolPath: String { "\(outputDirectory)/spool" }

    /// Writes the database and DIR/config/, and loads that configuration back exactly as the daemon would.
    public func prepare() throws -> Configuration {
        let shipped = ConfigLoader.load(directory: rulesDirectory)
        guard let rules = shipped.configuration?.rules else {
            throw Failure(description: "the rules in \(rulesDirectory) do not load:\n" + shipped.diagnostics.map(\.description).joined(separator: "\n"))
        }
        let manager = FileManager.default
        try manager.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
        if manager.fileExists(atPath: configDirectory) { try manager.removeItem(atPath: configDirectory) }
        try manager.createDirectory(atPath: configDirectory, withIntermediateDirectories: true)
        for item in try manager.contentsOfDirectory(atPath: rulesDirectory) where item != "escalator.yaml" && item != "tests" {
            try manager.copyItem(atPath: "\(rulesDirectory)/\(item)", toPath: "\(configDirectory)/\(item)")
        }
        let main = try String(contentsOfFile: "\(rulesDirectory)/escalator.yaml", encoding: .utf8)
        try (main + """

            # Added by `escalator demo`: the demo order database, and the daemon's spool and state inside \(outputDirectory).
            \(ReferenceSchema.sourceSection(["driver: sqlite", "path: \(databasePath)", "poll_every: 1m"]))\
            mail:
              from: escalator@trophy.example
              from_name: Trophy-Trove escalations
              spool: \(liveDirectory)/spool
            state:
              directory: \(liveDirectory)/state

            """).write(toFile: "\(configDirectory)/escalator.yaml", atomically: true, encoding: .utf8)

        // The story order first, then background orders owned by the reps of the rules.
        let reps = rules.directory.people.values.filter { $0.id.hasPrefix("rep") && $0.id != "rep5" }.map(\.id).sorted()
        let background = SyntheticOrders(
            cases: background, seed: 2026, days: 54, end: DemoStory.day(54, "17:00"),
            owners: reps.isEmpty ? nil : reps, prefix: "ORD")
        let staff = rules.directory.people.values.sorted { $0.id < $1.id }.map {
            SyntheticOrders.StaffRow(id: $0.id, name: $0.name, email: $0.email, supervisor: $0.supervisor)
        }
        try background.writeSQLite(path: databasePath, staffRows: staff, extra: [DemoStory.rows])
        if manager.fileExists(atPath: spoolPath) { try manager.removeItem(atPath: spoolPath) }
        // A fresh database needs a fresh daemon state: the old one recorded steps for the orders it replaced.
        if manager.fileExists(atPath: liveDirectory) { try manager.removeItem(atPath: liveDirectory) }

        let result = ConfigLoader.load(directory: configDirectory)
        guard let configuration = result.configuration else {
            throw Failure(description: "the demo configuration does not load:\n" + result.diagnostics.map(\.description).joined(separator: "\n"))
        }
        return configuration
    }
}
