import Foundation

/// The `state` section: where the daemon keeps its escalation state and outbox.
///
/// Without the section, or without `directory`, the daemon uses `$STATE_DIRECTORY` (set by systemd's
/// `StateDirectory=`) and falls back to `/var/lib/escalator`.
public struct StateSettings: Sendable, Hashable {
    public static let defaultDirectory = "/var/lib/escalator"

    /// The state directory named in the configuration, made absolute; nil when not set there.
    public let directory: String?

    public init(directory: String? = nil) {
        self.directory = directory
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
    func buildState() -> StateSettings {
        guard let node = section("state"), !node.isNull, let mapping = YAMLMapping(node, "\"state\"", sink) else {
            return StateSettings()
        }
        mapping.allowOnly(["directory"])
        guard let value = mapping["directory"], let text = sink.text(value, "directory") else { return StateSettings() }
        if text.isEmpty {
            sink.error(value, "directory must name a folder, e.g. /var/lib/escalator")
            return StateSettings()
        }
        return StateSettings(directory: text.hasPrefix("/") ? text : "\(directory)/\(text)")
    }
}
