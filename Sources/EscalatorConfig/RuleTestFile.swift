import EscalatorCore
import Foundation
import Yams

/// A rule unit test, in the spirit of `promtool test rules`: cases with their activity, a virtual clock, and the
/// notices expected from the rules of a configuration directory.
public struct RuleTestFile: Sendable {
    public struct Expected: Sendable, Hashable, CustomStringConvertible {
        public let at: Date
        public let caseID: String
        public let policy: String
        public let step: Int
        public let trigger: String
        public let to: [String]
        public let cc: [String]?

        public init(at: Date, caseID: String, policy: String, step: Int, trigger: String, to: [String], cc: [String]?) {
            self.at = at
            self.caseID = caseID
            self.policy = policy
            self.step = step
            self.trigger = trigger
            self.to = to
            self.cc = cc
        }

        public var description: String {
            "\(UTCTimestamp.format(at)) \(caseID) \(policy) step \(step) \(trigger) to [\(to.joined(separator: ", "))]" + (cc.map { " cc [\($0.joined(separator: ", "))]" } ?? "")
        }
    }

    public let path: String
    /// The configuration directory whose rules are tested.
    public let rules: String
    public let cases: [Case]
    public let from: Date
    public let to: Date
    public let step: TimeInterval
    public let expected: [Expected]

    static func date(_ node: YAMLNode, _ what: String, _ sink: DiagnosticSink) -> Date? {
        guard let text = sink.text(node, what) else { return nil }
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date }
        sink.error(node, "\(what) \"\(text)\" is not an ISO 8601 instant with an offset, e.g. 2026-03-02T11:30:00+08:00")
        return nil
    }

    /// Reads a test file; every problem is a diagnostic with its line.
    public static func load(_ path: String) -> (file: RuleTestFile?, diagnostics: [Diagnostic]) {
        let sink = DiagnosticSink()
        guard let root = ConfigLoader.read(path, sink, FileSnapshot()), let top = YAMLMapping(root, "the test file", sink) else {
            if sink.items.isEmpty { sink.add(Diagnostic(.error, file: path, line: 1, column: 1, message: "the test file is empty")) }
            return (nil, sink.items)
        }
        top.allowOnly(["rules", "cases", "evaluate", "expect"])
        let directory = (path as NSString).deletingLastPathComponent
        let rulesText = top["rules"].flatMap { sink.text($0, "rules") } ?? ".."
        let rules = rulesText.hasPrefix("/") ? rulesText : "\(directory.isEmpty ? "." : directory)/\(rulesText)"

        var cases: [Case] = []
        if let node = top.require("cases") {
            for item in node.items ?? [] {
                guard let mapping = YAMLMapping(item, "a case", sink) else { continue }
                mapping.allowOnly(["id", "kind", "status", "owner", "opened_at", "promised_at", "closed_at", "attributes", "activity"])
                // Read the whole case even when a field is bad, so every problem is reported in one pass.
                let id = mapping.require("id").flatMap { sink.text($0, "id") } ?? "?"
                let opened = mapping.require("opened_at").flatMap { date($0, "opened_at", sink) }
                var attributes: [String: String] = [:]
                if let node = mapping["attributes"], let table = YAMLMapping(node, "attributes", sink) {
                    for (key, value) in table.entries { if let k = key.scalar, let v = sink.text(value, k) { attributes[k] = v } }
                }
                var activity: [Activity] = []
                for (index, entry) in (mapping["activity"]?.items ?? []).enumerated() {
                    guard let fields = YAMLMapping(entry, "an activity of case \(id)", sink) else { continue }
                    fields.allowOnly(["id", "kind", "at", "actor", "text", "tag", "status", "person", "due", "quantity", "ref", "kept_by"])
                    guard let kindNode = fields.require("kind"), let kindText = sink.text(kindNode, "kind"),
                        let at = fields.require("at").flatMap({ date($0, "at", sink) })
                    else { continue }
                    guard let kind = Activity.Kind(rawValue: kindText) else {
                        var message = "unknown activity kind \"\(kindText)\""
                        if let guess = Suggest.closest(to: kindText, among: Activity.Kind.allCases.map(\.rawValue)) { message += "; did you mean \"\(guess)\"?" }
                        sink.error(kindNode, message)
                        continue
                    }
                    func text(_ key: String) -> String? { fields[key].flatMap { sink.text($0, key) } }
                    activity.append(Activity(
                        id: text("id") ?? "\(id)-\(index + 1)", kind: kind, at: at, actor: text("actor"), text: text("text"),
                        tag: text("tag"), status: text("status"), person: text("person"),
                        due: fields["due"].flatMap { date($0, "due", sink) }, quantity: text("quantity").flatMap(Int.init),
                        ref: text("ref"), keptBy: text("kept_by").flatMap(Activity.Kind.init(rawValue:))))
                }
                func text(_ key: String) -> String? { mapping[key].flatMap { sink.text($0, key) } }
                guard let opened else { continue }
                cases.append(Case(
                    id: id, kind: text("kind"), status: text("status"), owner: text("owner"), openedAt: opened,
                    promisedAt: mapping["promised_at"].flatMap { date($0, "promised_at", sink) },
                    closedAt: mapping["closed_at"].flatMap { date($0, "closed_at", sink) }, attributes: attributes, activity: activity))
            }
        }
        var from: Date?
        var to: Date?
        var step: TimeInterval = 900
        if let node = top.require("evaluate"), let clock = YAMLMapping(node, "evaluate", sink) {
            clock.allowOnly(["from", "to", "step"])
            from = clock.require("from").flatMap { date($0, "from", sink) }
            to = clock.require("to").flatMap { date($0, "to", sink) }
            if let node = clock["step"], let span = sink.span(node, "step") {
                if let seconds = span.fixedSeconds, !span.isBusiness, seconds > 0 { step = TimeInterval(seconds) } else {
                    sink.error(node, "step must be a wall-clock duration such as 15m")
                }
            }
        }
        var expected: [Expected] = []
        for item in top["expect"]?.items ?? [] {
            guard let fields = YAMLMapping(item, "an expected notice", sink) else { continue }
            fields.allowOnly(["at", "case", "policy", "step", "trigger", "to", "cc"])
            guard let at = fields.require("at").flatMap({ date($0, "at", sink) }),
                let caseID = fields.require("case").flatMap({ sink.text($0, "case") }),
                let policy = fields.require("policy").flatMap({ sink.text($0, "policy") }),
                let stepText = fields.require("step").flatMap({ sink.text($0, "step") }), let stepNumber = Int(stepText),
                let trigger = fields.require("trigger").flatMap({ sink.text($0, "trigger") })
            else { continue }
            let toList = fields["to"].flatMap { sink.texts($0, "to") } ?? []
            let ccList = fields["cc"].flatMap { $0.items?.isEmpty == true ? [] : sink.texts($0, "cc") }
            expected.append(Expected(at: at, caseID: caseID, policy: policy, step: stepNumber, trigger: trigger, to: toList, cc: ccList))
        }
        guard sink.items.errorCount == 0, let from, let to else { return (nil, sink.items) }
        return (RuleTestFile(path: path, rules: rules, cases: cases, from: from, to: to, step: step, expected: expected), sink.items)
    }
}
