import EscalatorCore
import Foundation

/// A policy as read, with the name of the ladder it uses (for the ladder checks).
struct PolicyDraft {
    let policy: Policy
    let ladderName: String
}

extension RulesBuilder {
    static let policyKeys = [
        "name", "description", "measure", "applies_to", "pause_while", "until", "calendar", "warn_at", "warn_before",
        "ladder", "deadline", "since", "breach_after", "grace", "on_status", "template",
    ]
    /// The keys each measure takes beyond the common ones, and which of them it requires.
    static let measureKeys: [String: (takes: [String], requires: [String])] = [
        "deadline": (["deadline"], ["deadline"]),
        "silence": (["since", "breach_after"], ["breach_after"]),
        "response": (["breach_after"], ["breach_after"]),
        "promise": (["grace"], []),
        "stall": (["breach_after"], ["breach_after"]),
        "unowned": (["breach_after"], []),
        "obligation": (["grace", "on_status"], []),
    ]
    static let measureSpecific = ["deadline", "since", "breach_after", "grace", "on_status"]
    static let matcherFields = ["kind", "status", "owner"]

    func buildPolicies(raci: Raci) -> [PolicyDraft] {
        var drafts: [PolicyDraft] = []
        var names: [String: YAMLNode] = [:]
        var position = 0
        for (_, _, value) in sections.filter({ $0.name == "policies" }) {
            guard !value.isNull else { continue }
            guard let items = value.items else {
                sink.error(value, "\"policies\" must be a list of policies, found \(value.shape)")
                continue
            }
            for item in items {
                position += 1
                guard let draft = buildPolicy(item, position: position, names: &names) else { continue }
                drafts.append(draft)
            }
        }
        return drafts
    }

    private func buildPolicy(_ node: YAMLNode, position: Int, names: inout [String: YAMLNode]) -> PolicyDraft? {
        guard let first = YAMLMapping(node, "policy #\(position)", sink) else { return nil }
        var ok = true
        var name = "#\(position)"
        if let nameNode = first.require("name"), let text = sink.text(nameNode, "policy name") {
            if !isPlainID(text) {
                sink.error(nameNode, "policy name \"\(text)\" may hold only letters, digits, '.', '_' and '-'")
                ok = false
            } else if let earlier = names[text] {
                sink.error(nameNode, "policy \"\(text)\" is already defined at \(location(earlier))")
                ok = false
            } else {
                names[text] = nameNode
            }
            name = text
        } else {
            ok = false
        }
        let what = "policy \"\(name)\""
        let mapping = YAMLMapping(node, what, sink)!
        mapping.allowOnly(Self.policyKeys)

        // The measure and its own keys.
        var measureName: String?
        if let node = mapping.require("measure"), let text = sink.text(node, "measure") {
            if Self.measureKeys[text] != nil {
                measureName = text
            } else {
                var message = "unknown measure \"\(text)\" (one of: \(Self.measureKeys.keys.sorted().joined(separator: ", ")))"
                if let guess = Suggest.closest(to: text, among: Self.measureKeys.keys) { message += "; did you mean \"\(guess)\"?" }
                sink.error(node, message)
            }
        }
        guard let measureName, let spec = Self.measureKeys[measureName] else { return nil }
        for key in Self.measureSpecific where !spec.takes.contains(key) {
            guard let keyNode = mapping.keyNode(key) else { continue }
            let takes = spec.takes.isEmpty ? "no measure-specific keys" : spec.takes.joined(separator: ", ")
            sink.error(keyNode, "\"\(key)\" does not apply to measure \(measureName) (it takes \(takes))")
            ok = false
        }
        for key in spec.requires where mapping[key] == nil || mapping[key]!.isNull {
            sink.error(mapping.node, "\(what) with measure \(measureName) needs \"\(key)\"")
            ok = false
        }

        // Calendar.
        var calendar = calendars[Self.builtInCalendar]!
        if let node = mapping["calendar"], let text = sink.text(node, "calendar") {
            if let found = calendars[text] {
                calendar = found
            } else {
                if !brokenCalendars.contains(text) { reportUnknown(node, "calendar", text, among: Array(calendars.keys)) }
                ok = false
            }
        } else if let fallback = defaultCalendar {
            if let found = calendars[fallback] { calendar = found } else { ok = false }
        }

        func span(_ key: String) -> Span? {
            guard let node = mapping[key], !node.isNull else { return nil }
            guard let value = sink.span(node, key) else {
                ok = false
                return nil
            }
            return value
        }

        let measure: Policy.Measure?
        switch measureName {
        case "deadline":
            measure = mapping["deadline"].flatMap(parseDeadline)
        case "silence":
            var since = Policy.Since.last(.customerUpdate)
            if let node = mapping["since"] {
                if let parsed = parseSince(node) { since = parsed } else { ok = false }
            }
            measure = span("breach_after").map { .silence(since: since, after: $0) }
        case "response":
            measure = span("breach_after").map { .response(after: $0) }
        case "stall":
            measure = span("breach_after").map { .stall(after: $0) }
        case "unowned":
            measure = .unowned(after: span("breach_after") ?? .zero)
        case "promise":
            measure = .promise(grace: span("grace") ?? .zero)
        default:  // obligation
            var onStatus: [String] = []
            if let node = mapping["on_status"], let values = sink.texts(node, "on_status") { onStatus = values }
            measure = .obligation(onStatus: onStatus, grace: span("grace") ?? .zero)
        }

        // Which cases, pauses and stops.
        let appliesTo = mapping["applies_to"].map { $0.isNull ? CaseMatcher.any : parseMatcher($0, "applies_to") } ?? .any
        let pauseWhile = mapping["pause_while"].flatMap { $0.isNull ? nil : parseMatcher($0, "pause_while") }
        var until: [StopCondition] = []
        var untilNodes: [YAMLNode] = []
        if let node = mapping["until"], !node.isNull {
            if node.entries != nil {
                if let matcher = parseMatcher(node, "until") {
                    until = [.matches(matcher)]
                    untilNodes = [node]
                }
            } else if let items = sink.list(node, "until") {
                for item in items {
                    guard let text = sink.text(item, "until"), let condition = parseCondition(text, item) else {
                        ok = false
                        continue
                    }
                    until.append(condition)
                    untilNodes.append(item)
                }
            }
        }

        // Warning.
        var warning: Policy.Warning?
        if let at = mapping["warn_at"], let before = mapping.keyNode("warn_before") {
            sink.error(before, "at most one of warn_at and warn_before may be set (warn_at is at \(location(at)))")
            ok = false
        } else if let node = mapping["warn_at"], let text = sink.text(node, "warn_at") {
            let number = text.hasSuffix("%") ? Double(text.dropLast().trimmingCharacters(in: .whitespaces)) : nil
            if let number, number > 0, number < 100 {
                warning = .percent(number / 100)
            } else {
                sink.error(node, "warn_at must be a percentage between 0% and 100% (exclusive), e.g. \"75%\"; found \"\(text)\"")
                ok = false
            }
        } else if mapping["warn_before"] != nil {
            if let before = span("warn_before") {
                if before.isZero {
                    sink.error(mapping["warn_before"]!, "warn_before must be longer than zero")
                    ok = false
                }
                warning = .before(before)
            }
        }

        // Ladder.
        var ladder: LadderDraft?
        if let node = mapping["ladder"], !node.isNull {
            if let text = node.scalar {
                ladder = ladders[text]
                if ladder == nil {
                    if !brokenLadders.contains(text) { reportUnknown(node, "ladder", text, among: Array(ladders.keys)) }
                    ok = false
                }
            } else {
                ladder = parseLadder(node, name: "the ladder of \(what)")
                if ladder == nil { ok = false }
                if let inline = ladder, warning == nil {
                    for (index, step) in inline.ladder.steps.enumerated() where step.anchor == .warn {
                        sink.error(inline.stepNodes[index], "step \(index + 1) (at \(step.label)) is unreachable: \(what) has no warn_at or warn_before")
                        ok = false
                    }
                }
            }
        } else if let defaultLadder {
            ladder = defaultLadder
        } else if brokenLadders.contains(Self.defaultLadderName) {
            ok = false
        } else {
            sink.error(mapping.node, "\(what) has no ladder: give it one, or set a default \"ladder\" section")
            ok = false
        }

        // A policy that can never apply or never breach.
        if let appliesTo, let pauseWhile, Self.implies(appliesTo, pauseWhile), let node = mapping["pause_while"] {
            sink.error(node, "\(what) can never breach: pause_while holds whenever applies_to matches")
            ok = false
        }
        if let appliesTo {
            for (condition, node) in zip(until, untilNodes) {
                if case .matches(let matcher) = condition, Self.implies(appliesTo, matcher) {
                    sink.error(node, "\(what) can never apply: until \(condition) holds whenever applies_to matches")
                    ok = false
                }
            }
        }
        if measureName == "obligation", let appliesTo, appliesTo.clauses.contains(where: { $0.field == .status }),
            let node = mapping["applies_to"], measure.map({ if case .obligation(let s, _) = $0 { return s.isEmpty } else { return false } }) == true
        {
            sink.warning(node, "\(what) limits the status but has no on_status: an obligation is checked only once the case is closed, whatever its status")
        }

        guard ok, let measure, let appliesTo, mapping["pause_while"].map({ $0.isNull || pauseWhile != nil }) ?? true,
            let ladder
        else { return nil }
        let template = mapping["template"].flatMap { sink.text($0, "template") }
        let policy = Policy(
            name: name, measure: measure, appliesTo: appliesTo, pauseWhile: pauseWhile, until: until,
            calendar: calendar, warning: warning, ladder: ladder.ladder, template: template)
        return PolicyDraft(policy: policy, ladderName: ladder.name)
    }

    /// "opened_at + 2 business days", "promised_at".
    private func parseDeadline(_ node: YAMLNode) -> Policy.Measure? {
        guard let text = sink.text(node, "deadline") else { return nil }
        let parts = text.split(separator: "+", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let field = dateField(parts[0], node) else { return nil }
        var plus = Span.zero
        if parts.count == 2 {
            switch Span.parse(parts[1]) {
            case .success(let span): plus = span
            case .failure(let failure):
                sink.error(node, "deadline: \(failure.message)")
                return nil
            }
        }
        return .deadline(field: field, plus: plus)
    }

    private func dateField(_ text: String, _ node: YAMLNode) -> Policy.DateField? {
        if let field = Policy.DateField(rawValue: text) { return field }
        var message = "\"\(text)\" is not a date of the case (one of: \(Policy.DateField.allCases.map(\.rawValue).joined(separator: ", ")))"
        if let guess = Suggest.closest(to: text, among: Policy.DateField.allCases.map(\.rawValue)) {
            message += "; did you mean \"\(guess)\"?"
        }
        sink.error(node, message)
        return nil
    }

    /// "last(customer_update)" or a date field.
    private func parseSince(_ node: YAMLNode) -> Policy.Since? {
        guard let text = sink.text(node, "since") else { return nil }
        if text.hasPrefix("last("), text.hasSuffix(")") {
            let name = String(text.dropFirst(5).dropLast())
            if let kind = Activity.Kind(rawValue: name) { return .last(kind) }
            reportUnknown(node, "activity kind", name, among: Activity.Kind.allCases.map(\.rawValue))
            return nil
        }
        return dateField(text, node).map { .field($0) }
    }

    /// `{ kind: custom-order, status: { not_in: [delivered] }, attributes.priority: [high, urgent] }`.
    func parseMatcher(_ node: YAMLNode, _ what: String) -> CaseMatcher? {
        guard let mapping = YAMLMapping(node, what, sink) else { return nil }
        var clauses: [CaseMatcher.Clause] = []
        var ok = true
        for (key, value) in mapping.entries {
            guard let name = sink.text(key, "a case field") else {
                ok = false
                continue
            }
            guard let field = Self.caseField(name) else {
                var message = "unknown case field \"\(name)\" in \(what) (kind, status, owner, or attributes.COLUMN)"
                if let guess = Suggest.closest(to: name, among: Self.matcherFields) { message += "; did you mean \"\(guess)\"?" }
                sink.error(key, message)
                ok = false
                continue
            }
            let tests: [ValueTest]
            if let operators = value.entries.flatMap({ _ in YAMLMapping(value, "\(what).\(name)", sink) }) {
                operators.allowOnly(["in", "not_in", "exists"])
                var parsed: [ValueTest] = []
                if let node = operators["in"], let values = sink.texts(node, "in") { parsed.append(.oneOf(values)) }
                if let node = operators["not_in"], let values = sink.texts(node, "not_in") { parsed.append(.noneOf(values)) }
                if let node = operators["exists"], let wanted = sink.bool(node, "exists") { parsed.append(.present(wanted)) }
                if operators.entries.isEmpty {
                    sink.error(value, "\(what).\(name) has no test (in, not_in or exists)")
                    ok = false
                }
                tests = parsed
            } else if value.items?.isEmpty == true {
                tests = [.oneOf([])]
            } else if let values = sink.texts(value, "\(what).\(name)") {
                tests = [.oneOf(values)]
            } else {
                ok = false
                continue
            }
            if let reason = Self.neverPasses(tests) {
                sink.error(value, "\(what).\(name) can never match: \(reason)")
                ok = false
            }
            clauses += tests.map { CaseMatcher.Clause(field: field, test: $0) }
        }
        return ok ? CaseMatcher(clauses) : nil
    }

    /// `kind`, `status`, `owner` or `attributes.COLUMN`.
    static func caseField(_ name: String) -> CaseField? {
        switch name {
        case "kind": return .kind
        case "status": return .status
        case "owner": return .owner
        default: return name.hasPrefix("attributes.") && name.count > 11 ? .attribute(String(name.dropFirst(11))) : nil
        }
    }

    /// Why a set of tests on one field can never all pass, if they cannot.
    static func neverPasses(_ tests: [ValueTest]) -> String? {
        var allowed: Set<String>?
        var excluded: Set<String> = []
        var mustExist: Bool?
        for test in tests {
            switch test {
            case .oneOf(let values):
                if values.isEmpty { return "the list of values is empty" }
                allowed = allowed.map { $0.intersection(values) } ?? Set(values)
            case .noneOf(let values): excluded.formUnion(values)
            case .present(let wanted): mustExist = wanted
            }
        }
        if let allowed {
            if allowed.isEmpty { return "no value is in every list" }
            if allowed.isSubset(of: excluded) { return "every allowed value is also excluded" }
            if mustExist == false { return "it requires a value and requires none" }
        }
        return nil
    }

    /// True if every case matching `given` also matches `condition` (judged clause by clause, conservatively).
    static func implies(_ given: CaseMatcher, _ condition: CaseMatcher) -> Bool {
        guard !condition.clauses.isEmpty else { return true }
        return condition.clauses.allSatisfy { wanted in
            given.clauses.contains { have in
                guard have.field == wanted.field else { return false }
                switch (have.test, wanted.test) {
                case (.oneOf(let a), .oneOf(let b)): return Set(a).isSubset(of: b)
                case (.oneOf(let a), .noneOf(let b)): return Set(a).isDisjoint(with: b)
                case (.noneOf(let a), .noneOf(let b)): return Set(b).isSubset(of: a)
                case (.oneOf, .present(true)): return true
                case (.present(let x), .present(let y)): return x == y
                default: return false
                }
            }
        }
    }

    /// "closed", "activity.proof_sent", "status in [delivered, cancelled]", "status not in [x]", "kind == repair".
    func parseCondition(_ text: String, _ node: YAMLNode) -> StopCondition? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed == "closed" { return .closed }
        if trimmed.hasPrefix("activity.") {
            let name = String(trimmed.dropFirst(9))
            guard isPlainID(name) else {
                sink.error(node, "until: \"\(trimmed)\" must name an activity kind or tag, e.g. activity.proof_sent")
                return nil
            }
            let kinds = Activity.Kind.allCases.map(\.rawValue)
            if !kinds.contains(name), let guess = Suggest.closest(to: name, among: kinds) {
                sink.warning(node, "\"\(name)\" is not an activity kind, so it is read as a tag; did you mean \"\(guess)\"?")
            }
            return .activity(name)
        }
        let patterns: [(String, Bool)] = [(" not in ", false), (" in ", true), (" != ", false), (" == ", true), (" = ", true)]
        for (op, positive) in patterns {
            guard let range = trimmed.range(of: op) else { continue }
            let fieldName = trimmed[..<range.lowerBound].trimmingCharacters(in: .whitespaces)
            var rest = trimmed[range.upperBound...].trimmingCharacters(in: .whitespaces)
            if op.contains("in") {
                guard rest.hasPrefix("["), rest.hasSuffix("]") else { break }
                rest = String(rest.dropFirst().dropLast())
            }
            let values = rest.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard let field = Self.caseField(fieldName) else {
                var message = "until: unknown case field \"\(fieldName)\""
                if let guess = Suggest.closest(to: fieldName, among: Self.matcherFields) { message += "; did you mean \"\(guess)\"?" }
                sink.error(node, message)
                return nil
            }
            if values.isEmpty {
                sink.error(node, "until: \"\(trimmed)\" names no value")
                return nil
            }
            return .matches(CaseMatcher([CaseMatcher.Clause(field: field, test: positive ? .oneOf(values) : .noneOf(values))]))
        }
        sink.error(node, "until: cannot read \"\(trimmed)\"; write activity.NAME, closed, or a test such as \"status in [delivered, cancelled]\"")
        return nil
    }
}
