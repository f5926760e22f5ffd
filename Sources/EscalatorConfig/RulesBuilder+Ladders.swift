import EscalatorCore

/// A ladder as read, with the nodes that diagnostics about it point to.
struct LadderDraft {
    let ladder: Ladder
    let node: YAMLNode
    let name: String
    let stepNodes: [YAMLNode]
}

extension RulesBuilder {
    static let ladderKeys = ["steps", "repeat_every", "on_clear"]
    static let stepKeys = ["at", "to", "cc", "quiet_hours", "template"]
    static let defaultLadderName = "the default ladder"

    func buildLadders() {
        if let node = section("ladder"), !node.isNull {
            defaultLadder = parseLadder(node, name: Self.defaultLadderName)
            if defaultLadder == nil { brokenLadders.insert(Self.defaultLadderName) }
        }
        for (key, value) in mergedEntries("ladders", noun: "ladder") {
            guard let name = key.scalar else { continue }
            if let draft = parseLadder(value, name: "ladder \"\(name)\"") { ladders[name] = draft } else { brokenLadders.insert(name) }
        }
    }

    /// A ladder is a mapping with `steps`, or just the list of steps.
    func parseLadder(_ node: YAMLNode, name: String) -> LadderDraft? {
        var stepsNode = node
        var repeatEvery: Span?
        var onClear = Ladder.OnClear.notified
        var ok = true
        if node.entries != nil, let mapping = YAMLMapping(node, name, sink) {
            mapping.allowOnly(Self.ladderKeys)
            guard let steps = mapping.require("steps") else { return nil }
            stepsNode = steps
            if let every = mapping["repeat_every"] {
                repeatEvery = sink.span(every, "repeat_every")
                if repeatEvery == nil {
                    ok = false
                } else if repeatEvery?.isZero == true {
                    sink.error(every, "repeat_every must be longer than zero")
                    ok = false
                }
            }
            if let clear = mapping["on_clear"] {
                let value = clear.entries != nil ? YAMLMapping(clear, "on_clear", sink).flatMap { m -> YAMLNode? in
                    m.allowOnly(["notify"])
                    return m.require("notify")
                } : clear
                switch value.flatMap({ sink.text($0, "on_clear") }) {
                case "notified": onClear = .notified
                case "nobody", "none": onClear = .nobody
                case let other?:
                    sink.error(value!, "on_clear must be \"notified\" (everyone notified hears that it cleared) or \"nobody\", found \"\(other)\"")
                    ok = false
                case nil: ok = false
                }
            }
        }
        guard let items = stepsNode.items else {
            sink.error(stepsNode, "the steps of \(name) must be a list, found \(stepsNode.shape)")
            return nil
        }
        if items.isEmpty {
            sink.error(stepsNode, "\(name) has no steps")
            return nil
        }
        var steps: [Ladder.Step] = []
        for (index, item) in items.enumerated() {
            guard let step = parseStep(item, what: "step \(index + 1) of \(name)") else {
                ok = false
                continue
            }
            if let previous = steps.last {
                switch order(step, after: previous) {
                case .later: break
                case .notLater:
                    sink.error(item, "step \(index + 1) of \(name) (at \(step.label)) is unreachable: it does not come after step \(index) (at \(previous.label)); list steps in time order")
                    ok = false
                case .depends:
                    sink.warning(item, "step \(index + 1) of \(name) (at \(step.label)) may come before step \(index) (at \(previous.label)), depending on the calendar; list steps in time order")
                }
            }
            steps.append(step)
        }
        guard ok else { return nil }
        return LadderDraft(ladder: Ladder(steps: steps, repeatEvery: repeatEvery, onClear: onClear), node: node, name: name, stepNodes: items)
    }

    private func parseStep(_ node: YAMLNode, what: String) -> Ladder.Step? {
        guard let mapping = YAMLMapping(node, what, sink) else { return nil }
        mapping.allowOnly(Self.stepKeys)
        var ok = true
        var anchor = Ladder.Anchor.breach
        var offset = Span.zero
        if let at = mapping.require("at"), let text = sink.text(at, "at") {
            let parts = text.split(separator: "+", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if let parsed = Ladder.Anchor(rawValue: parts[0]) {
                anchor = parsed
            } else {
                var message = "\"at\" must be warn, breach, or one of them plus a duration (e.g. \"breach + 4 business hours\"), found \"\(text)\""
                if let guess = Suggest.closest(to: parts[0], among: ["warn", "breach"]) { message += "; did you mean \"\(guess)\"?" }
                sink.error(at, message)
                ok = false
            }
            if parts.count == 2 {
                switch Span.parse(parts[1]) {
                case .success(let span): offset = span
                case .failure(let failure):
                    sink.error(at, "at: \(failure.message)")
                    ok = false
                }
            }
        } else {
            ok = false
        }
        let to = mapping.require("to").flatMap { recipients($0, "to") }
        var cc: [Ladder.Recipient] = []
        if let node = mapping["cc"], !node.isNull {
            if let parsed = recipients(node, "cc") { cc = parsed } else { ok = false }
        }
        var quiet = true
        if let node = mapping["quiet_hours"] {
            if let value = sink.bool(node, "quiet_hours") { quiet = value } else { ok = false }
        }
        var template: String?
        if let node = mapping["template"] { template = sink.text(node, "template") }
        guard ok, let to else { return nil }
        return Ladder.Step(anchor: anchor, offset: offset, to: to, cc: cc, quietHours: quiet, template: template)
    }

    /// Roles or person ids; reports unknown names with a suggestion.
    private func recipients(_ node: YAMLNode, _ key: String) -> [Ladder.Recipient]? {
        guard let items = sink.list(node, key) else { return nil }
        var out: [Ladder.Recipient] = []
        var ok = true
        for item in items {
            guard let name = sink.text(item, key) else {
                ok = false
                continue
            }
            if let role = Ladder.Role(rawValue: name) {
                out.append(.role(role))
            } else if directoryPeople[name] != nil {
                out.append(.person(name))
            } else if peopleFromQuery, isPlainID(name), name != "notified" {
                sink.warning(item, "\(key): \"\(name)\" is not in people; it must come from the directory query")
                out.append(.person(name))
            } else if name == "notified" {
                sink.error(item, "\"notified\" names who hears that a condition cleared; use it in on_clear, not in a step")
                ok = false
            } else {
                var message = "\(key): \"\(name)\" is neither a role (\(Ladder.Role.allCases.map(\.rawValue).joined(separator: ", "))) nor a person"
                if let guess = Suggest.closest(to: name, among: Ladder.Role.allCases.map(\.rawValue) + directoryPeople.keys) {
                    message += "; did you mean \"\(guess)\"?"
                }
                sink.error(item, message)
                ok = false
            }
        }
        if out.isEmpty && ok {
            sink.error(node, "\(key) names nobody")
            return nil
        }
        return ok ? out : nil
    }

    enum StepOrder { case later, notLater, depends }

    /// Whether `step` comes after `previous`. Business days have no fixed length in working hours, but a business
    /// day never holds more than 24 of them, so hours beyond that are later and fewer are calendar-dependent.
    private func order(_ step: Ladder.Step, after previous: Ladder.Step) -> StepOrder {
        if step.anchor != previous.anchor { return step.anchor == .breach ? .later : .notLater }
        let (a, b) = (previous.offset, step.offset)
        if b.isZero { return .notLater }
        if a.isZero || a.isBusiness != b.isBusiness { return .later }
        if let x = a.fixedSeconds, let y = b.fixedSeconds { return y > x ? .later : .notLater }
        if a.unit == .days && b.unit == .days { return b.amount > a.amount ? .later : .notLater }
        if a.unit == .days, let y = b.fixedSeconds { return y > a.amount * 86_400 ? .later : .depends }
        return .later  // business days after business hours
    }

    /// Unreachable warn steps and ladders that no policy uses.
    func checkLadderUse(_ policies: [PolicyDraft]) {
        var drafts = ladders.map { ($0.value, true) }
        if let defaultLadder { drafts.append((defaultLadder, false)) }
        for (draft, named) in drafts {
            let users = policies.filter { $0.ladderName == draft.name }
            if users.isEmpty {
                if named { sink.warning(draft.node, "\(draft.name) is not used by any policy") }
                continue
            }
            if !users.contains(where: { $0.policy.warning != nil }) {
                for (index, step) in draft.ladder.steps.enumerated() where step.anchor == .warn {
                    sink.warning(draft.stepNodes[index], "step \(index + 1) of \(draft.name) (at \(step.label)) is unreachable: no policy that uses this ladder has warn_at or warn_before")
                }
            }
        }
    }
}
