import EscalatorCore
import Foundation

/// Turns the YAML documents of a configuration directory into `Rules`, reporting every problem it meets.
final class RulesBuilder {
    let directory: String
    let documents: [YAMLNode]
    let sink: DiagnosticSink
    /// Where files named by the rules (calendars' `holidays_ics`) are read.
    let files: FileSnapshot

    /// The sections found in each file, in load order.
    var sections: [(name: String, key: YAMLNode, value: YAMLNode)] = []

    var calendars: [String: BusinessCalendar] = [:]
    /// Calendars and ladders that are defined but failed to load: references to them are not reported again.
    var brokenCalendars: Set<String> = []
    var brokenLadders: Set<String> = []
    var directoryPeople: [String: Person] = [:]
    var ladders: [String: LadderDraft] = [:]
    var defaultLadder: LadderDraft?
    var defaultCalendar: String?

    /// True when `source.directory` reads people from the database: names not in `people` may still be people.
    var peopleFromQuery: Bool {
        section("source").flatMap { $0.entries }?.contains { $0.key.scalar == "directory" && !$0.value.isNull } ?? false
    }

    init(directory: String, documents: [YAMLNode], sink: DiagnosticSink, files: FileSnapshot) {
        self.directory = directory
        self.documents = documents
        self.sink = sink
        self.files = files
        for document in documents {
            guard let top = YAMLMapping(document, "the top level", sink) else { continue }
            top.allowOnly(ConfigLoader.sections)
            for (key, value) in top.entries {
                guard let name = key.scalar, ConfigLoader.sections.contains(name) else { continue }
                if ["ladder", "defaults", "source", "mail", "state"].contains(name), let first = sections.first(where: { $0.name == name }) {
                    sink.error(key, "\"\(name)\" is already set at \(location(first.key)); set it in one file only")
                    continue
                }
                sections.append((name, key, value))
            }
        }
    }

    func location(_ node: YAMLNode) -> String { "\(node.file):\(node.line):\(node.column)" }

    /// The entries of a mapping section across all files; a name defined twice is an error.
    func mergedEntries(_ section: String, noun: String) -> [(key: YAMLNode, value: YAMLNode)] {
        var out: [(key: YAMLNode, value: YAMLNode)] = []
        var seen: [String: YAMLNode] = [:]
        for (_, _, value) in sections.filter({ $0.name == section }) {
            guard value.isNull == false, let mapping = YAMLMapping(value, "\"\(section)\"", sink) else { continue }
            for (key, item) in mapping.entries {
                guard let name = key.scalar, !key.isNull else {
                    sink.error(key, "a \(noun) name must be a single value, found \(key.shape)")
                    continue
                }
                if let earlier = seen[name] {
                    sink.error(key, "\(noun) \"\(name)\" is already defined at \(location(earlier))")
                    continue
                }
                seen[name] = key
                out.append((key, item))
            }
        }
        return out
    }

    func section(_ name: String) -> YAMLNode? { sections.first { $0.name == name }?.value }

    func build() -> Rules? {
        if let defaults = section("defaults"), !defaults.isNull, let mapping = YAMLMapping(defaults, "\"defaults\"", sink) {
            mapping.allowOnly(["calendar"])
            if let node = mapping["calendar"] { defaultCalendar = sink.text(node, "defaults.calendar") }
            buildCalendars()
            if let name = defaultCalendar, calendars[name] == nil, !brokenCalendars.contains(name), let node = mapping["calendar"] {
                reportUnknown(node, "calendar", name, among: Array(calendars.keys))
            }
        } else {
            buildCalendars()
        }
        buildPeople()
        let raci = buildRaci()
        buildLadders()
        let policies = buildPolicies(raci: raci)
        checkLadderUse(policies)
        return Rules(
            calendars: calendars, directory: Directory(Array(directoryPeople.values)), raci: raci,
            policies: policies.map(\.policy))
    }

    func reportUnknown(_ node: YAMLNode, _ noun: String, _ name: String, among candidates: [String]) {
        var message = "unknown \(noun) \"\(name)\""
        if let guess = Suggest.closest(to: name, among: candidates) { message += "; did you mean \"\(guess)\"?" }
        sink.error(node, message)
    }
}
