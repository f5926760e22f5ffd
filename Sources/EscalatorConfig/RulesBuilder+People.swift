import EscalatorCore
import Foundation

extension RulesBuilder {
    func buildPeople() {
        var supervisorNodes: [String: YAMLNode] = [:]
        for (key, value) in mergedEntries("people", noun: "person") {
            guard let id = key.scalar else { continue }
            guard isPlainID(id) else {
                sink.error(key, "person id \"\(id.debugDescription.dropFirst().dropLast())\" may hold only letters, digits, '.', '_' and '-'")
                continue
            }
            guard let mapping = YAMLMapping(value, "person \"\(id)\"", sink) else { continue }
            mapping.allowOnly(["name", "email", "supervisor", "calendar"])
            let name = mapping.require("name").flatMap { sink.text($0, "name") }
            var email: String?
            if let node = mapping.require("email"), let text = sink.text(node, "email") {
                if MailAddress.isValid(text) {
                    email = text
                } else {
                    sink.error(node, "\"\(text)\" is not an email address (local@domain.example)")
                }
            }
            var supervisor: String?
            if let node = mapping["supervisor"], !node.isNull, let text = sink.text(node, "supervisor") {
                supervisor = text
                supervisorNodes[id] = node
            }
            var calendar: String?
            if let node = mapping["calendar"], let text = sink.text(node, "calendar") {
                if calendars[text] == nil {
                    if brokenCalendars.contains(text) { continue }
                    reportUnknown(node, "calendar", text, among: Array(calendars.keys))
                } else {
                    calendar = text
                }
            }
            // A person with a bad field still counts as known, so one mistake does not cascade.
            directoryPeople[id] = Person(
                id: id, name: name ?? id, email: email ?? "invalid@invalid", supervisor: supervisor, calendar: calendar)
        }

        for (id, node) in supervisorNodes.sorted(by: { ($0.value.file, $0.value.line) < ($1.value.file, $1.value.line) }) {
            guard let supervisor = directoryPeople[id]?.supervisor else { continue }
            if supervisor == id {
                sink.error(node, "\"\(id)\" cannot be their own supervisor")
            } else if directoryPeople[supervisor] == nil {
                reportUnknown(node, "supervisor", supervisor, among: Array(directoryPeople.keys))
            }
        }
        if let cycle = Directory(Array(directoryPeople.values)).firstCycle(), cycle.count > 2, let node = supervisorNodes[cycle[0]] {
            sink.error(node, "the supervisor chain has a cycle: \(cycle.joined(separator: " → "))")
        }
    }

    func isPlainID(_ text: String) -> Bool {
        !text.isEmpty && text.count <= 128
            && text.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0)) }
    }

    func buildRaci() -> Raci {
        var raci = Raci()
        var fallbackNode: YAMLNode?
        for (key, value) in mergedEntries("raci", noun: "RACI entry") {
            guard let name = key.scalar else { continue }
            if name == "fallback_owner" {
                fallbackNode = value
                guard let id = sink.text(value, "fallback_owner") else { continue }
                if directoryPeople[id] != nil {
                    raci.fallbackOwner = id
                } else if peopleFromQuery {
                    sink.warning(value, "fallback_owner \"\(id)\" is not in people; it must come from the directory query")
                    raci.fallbackOwner = id
                } else {
                    reportUnknown(value, "person", id, among: Array(directoryPeople.keys))
                }
                continue
            }
            guard let mapping = YAMLMapping(value, name == "default" ? "the default RACI entry" : "RACI for kind \"\(name)\"", sink) else { continue }
            mapping.allowOnly(["responsible", "accountable", "consulted", "informed"])
            var entry = RaciEntry()
            if let node = mapping["responsible"], let text = sink.text(node, "responsible") {
                entry.responsible = party(text, node)
            }
            func parties(_ key: String) -> [PartyRef] {
                guard let node = mapping[key], !node.isNull, let items = sink.list(node, key) else { return [] }
                return items.compactMap { item in sink.text(item, key).map { party($0, item) } }
            }
            entry.accountable = parties("accountable")
            entry.consulted = parties("consulted")
            entry.informed = parties("informed")
            if name == "default" { raci.fallback = entry } else { raci.byKind[name] = entry }
        }
        if fallbackNode == nil, let anchor = sections.first(where: { $0.name == "raci" })?.key {
            sink.warning(anchor, "raci.fallback_owner is not set: a case with no valid owner reaches nobody as responsible")
        }
        return raci
    }

    /// "owner", a person id, or else the name of a case column that holds a person id.
    private func party(_ text: String, _ node: YAMLNode) -> PartyRef {
        if text == "owner" { return .owner }
        if directoryPeople[text] != nil { return .person(text) }
        if let guess = Suggest.closest(to: text, among: directoryPeople.keys), guess != text {
            sink.warning(node, "\"\(text)\" is not a person, so it is read as a case column; did you mean the person \"\(guess)\"?")
        }
        return .column(text)
    }
}
