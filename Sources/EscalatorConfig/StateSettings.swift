import EscalatorCore
import Foundation

/// The `state` section: where the daemon keeps its escalation state and outbox.
///
/// `driver: sqlite` (the default) keeps them in `state.db` in the state directory: one daemon per host.
/// `driver: postgres` keeps them in a PostgreSQL database shared by several instances on several hosts, of which
/// exactly one is active at a time (docs/high-availability.md). The state directory still holds the local files
/// (the instance lock and the last reload's verdict).
public struct StateSettings: Sendable, Hashable {
    public static let defaultDirectory = "/var/lib/escalator"

    public enum Driver: String, Sendable, Hashable, CaseIterable {
        case sqlite, postgres
    }

    public let driver: Driver
    /// The state directory named in the configuration, made absolute; nil when not set there.
    public let directory: String?
    /// The shared server, with `driver: postgres`.
    public let postgres: PostgresEndpoint?
    /// With `driver: postgres`: the name of the group of instances sharing one state. It names the advisory lock
    /// the active instance holds, so two groups (two shards, two companies) may share one database.
    public let cluster: String
    /// With `driver: postgres`: the longest a standby waits, after the active instance or its host dies, before it
    /// takes over. It bounds how long the server keeps a silent session (TCP keepalives) and how often standbys try.
    public let failoverAfter: Span

    public init(
        driver: Driver = .sqlite, directory: String? = nil, postgres: PostgresEndpoint? = nil, cluster: String = "escalator",
        failoverAfter: Span = .wall(seconds: 30)
    ) {
        self.driver = driver
        self.directory = directory
        self.postgres = postgres
        self.cluster = cluster
        self.failoverAfter = failoverAfter
    }

    /// The directory to use: the configured one, else `$STATE_DIRECTORY` (its first entry), else the default.
    public func resolvedDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let directory { return directory }
        if let fromSystemd = environment["STATE_DIRECTORY"]?.split(separator: ":").first, !fromSystemd.isEmpty {
            return String(fromSystemd)
        }
        return Self.defaultDirectory
    }
}

extension RulesBuilder {
    static func isClusterName(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, text.unicodeScalars.count <= 63 else { return false }
        func letter(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) || c == "_" }
        return letter(first) && text.unicodeScalars.allSatisfy { letter($0) || ("0"..."9").contains($0) }
    }

    func buildState() -> StateSettings {
        guard let node = section("state"), !node.isNull, let mapping = YAMLMapping(node, "\"state\"", sink) else {
            return StateSettings()
        }
        mapping.allowOnly(["driver", "directory", "cluster", "failover_after"] + PostgresEndpoint.keys, hint: Self.sourceHints)
        var directoryPath: String?
        if let value = mapping["directory"], let text = sink.text(value, "directory") {
            if text.isEmpty {
                sink.error(value, "directory must name a folder, e.g. /var/lib/escalator")
            } else {
                directoryPath = text.hasPrefix("/") ? text : "\(directory)/\(text)"
            }
        }
        var driver = StateSettings.Driver.sqlite
        if let value = mapping["driver"], let name = sink.text(value, "driver") {
            if let parsed = StateSettings.Driver(rawValue: name) {
                driver = parsed
            } else {
                reportUnknown(value, "driver", name, among: StateSettings.Driver.allCases.map(\.rawValue))
                return StateSettings(directory: directoryPath)
            }
        }
        let sharedOnly = ["cluster", "failover_after"] + PostgresEndpoint.keys
        guard driver == .postgres else {
            for key in sharedOnly {
                if let node = mapping.keyNode(key) { sink.error(node, "\"state\" key \(key) needs driver: postgres (the shared state store)") }
            }
            return StateSettings(directory: directoryPath)
        }
        let endpoint = buildEndpoint(mapping)
        var cluster = "escalator"
        if let value = mapping["cluster"], let text = sink.text(value, "cluster") {
            if !Self.isClusterName(text) {
                sink.error(value, "cluster must be 1 to 63 lowercase letters, digits and underscores, starting with a letter or underscore (it names the PostgreSQL schema)")
            } else {
                cluster = text
            }
        }
        var failoverAfter = Span.wall(seconds: 30)
        if let value = mapping["failover_after"], let parsed = sink.span(value, "failover_after") {
            if parsed.isBusiness || (parsed.fixedSeconds ?? 0) < 3 {
                sink.error(value, "failover_after must be a wall-clock duration of at least 3s, e.g. \"30s\"")
            } else {
                failoverAfter = parsed
            }
        }
        return StateSettings(driver: .postgres, directory: directoryPath, postgres: endpoint, cluster: cluster, failoverAfter: failoverAfter)
    }
}
