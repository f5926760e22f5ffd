import EscalatorConfig
import EscalatorCore
import Foundation
import Mustache

/// Mail bodies from Mustache templates: `notice.mustache` by default, overridable per policy and per step.
public struct NoticeRenderer: Sendable {
    public static let defaultTemplate = "notice"
    let library: MustacheLibrary

    /// The built-in default template (the same text as Config/templates/notice.mustache).
    public static let builtIn = BuiltInTemplate.notice

    /// Loads the templates of a folder (every `*.mustache` file) over the built-in default, and checks that every
    /// template the rules name exists. Problems are diagnostics with the template file and line.
    public static func load(directory: String?, rules: Rules?) -> (renderer: NoticeRenderer?, diagnostics: [Diagnostic]) {
        var library = MustacheLibrary()
        var diagnostics: [Diagnostic] = []
        do {
            try library.register(builtIn, named: defaultTemplate)
        } catch {
            diagnostics.append(Diagnostic(.error, file: "(built-in notice template)", line: 1, column: 1, message: "\(error)"))
        }
        var names: Set<String> = [defaultTemplate]
        if let directory, let files = try? FileManager.default.contentsOfDirectory(atPath: directory) {
            for file in files.sorted() where file.hasSuffix(".mustache") {
                let path = "\(directory)/\(file)"
                let name = String(file.dropLast(".mustache".count))
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                    diagnostics.append(Diagnostic(.error, file: path, line: 1, column: 1, message: "cannot read the template (is it UTF-8?)"))
                    continue
                }
                do {
                    library.register(try MustacheTemplate(string: text), named: name)
                    names.insert(name)
                } catch let error as MustacheTemplate.ParserError {
                    diagnostics.append(Diagnostic(.error, file: path, line: error.context.lineNumber, column: max(1, error.context.columnNumber), message: "template: \(error.error)"))
                } catch {
                    diagnostics.append(Diagnostic(.error, file: path, line: 1, column: 1, message: "template: \(error)"))
                }
            }
        }
        if let rules {
            for policy in rules.policies {
                let wanted = [policy.template].compactMap { $0 } + policy.ladder.steps.compactMap(\.template)
                for name in Set(wanted) where !names.contains(name) {
                    diagnostics.append(Diagnostic(.error, file: directory ?? "templates", line: 1, column: 1, message: "policy \"\(policy.name)\" names template \"\(name)\", which is not in \(directory ?? "the built-in templates") (\(name).mustache)"))
                }
            }
        }
        return (diagnostics.errorCount == 0 ? NoticeRenderer(library: library) : nil, diagnostics)
    }

    /// Loads the templates of a configuration: the folder `mail.templates` names, else its `templates/` folder if
    /// there is one, else the built-in default alone. The daemon and every tool load them this way.
    public static func load(for configuration: Configuration) -> (renderer: NoticeRenderer?, diagnostics: [Diagnostic]) {
        let folder = configuration.mail?.templates ?? "\(configuration.directory)/templates"
        let exists = FileManager.default.fileExists(atPath: folder)
        return load(directory: exists ? folder : nil, rules: configuration.rules)
    }

    /// The body of a notice for one recipient.
    public func body(_ notice: Notice, recipient: Notice.Addressee, subject: Case?, state: EscalationState?, rules: Rules) -> String {
        let context = Self.context(notice, recipient: recipient, subject: subject, state: state, rules: rules)
        let name = notice.template ?? Self.defaultTemplate
        return library.render(context, withTemplate: name) ?? library.render(context, withTemplate: Self.defaultTemplate) ?? NoticeText.message(notice)
    }

    static func context(_ notice: Notice, recipient: Notice.Addressee, subject: Case?, state: EscalationState?, rules: Rules) -> [String: Any] {
        let calendar = rules.policies.first { $0.name == notice.policy }?.calendar
        func show(_ date: Date?) -> String { date.map { LocalTime.format($0, offset: calendar?.utcOffset(at: $0) ?? 0) } ?? "" }
        func clean(_ text: String?) -> String {
            guard let text else { return "" }
            // Most values are short plain ASCII, which needs neither cutting nor cleaning.
            if text.utf8.count <= 300 && text.isPrintableASCII() { return text }
            return String(text.unicodeScalars.prefix(300).map { $0.properties.generalCategory == .control ? " " : Character($0) })
        }

        var caseFacts: [String: Any] = ["id": notice.caseID]
        if let subject {
            caseFacts["kind"] = clean(subject.kind ?? "case")
            caseFacts["status"] = clean(subject.status ?? "(none)")
            caseFacts["owner"] = clean(subject.owner ?? "(nobody)")
            caseFacts["opened"] = show(subject.openedAt)
            if let promised = subject.promisedAt { caseFacts["promised"] = show(promised) }
        }
        let activity: [[String: Any]] = (subject?.activity.filter { $0.at <= notice.decidedAt }.suffix(10) ?? []).map {
            ["at": show($0.at), "kind": String($0.kind.rawValue.map { $0 == "_" ? " " : $0 }), "actor": clean($0.actor), "text": clean($0.text)]
        }
        var history: [[String: Any]] = []
        var notified: [String] = []
        if let occurrence = state?.occurrences.last(where: { notice.id.hasPrefix("\(notice.caseID)/\(notice.policy)/\($0.id)/") }) {
            for taken in occurrence.taken where taken.noticeID != nil && taken.noticeID != notice.id {
                history.append(["at": show(taken.takenAt), "step": taken.step])
            }
            notified = occurrence.notified
        }
        let expected: String
        switch (notice.trigger, recipient.role) {
        case (.clear, _): expected = "Nothing: this is resolved. Thank you."
        case (.warn, _): expected = "Act before the breach: update the customer or move the case on."
        case (_, "responsible"), (_, "fallback"): expected = "You own this case: contact the customer today and record what you did."
        case (_, "supervisor"): expected = "Make sure the owner acts today, or take the case over; reassign it if the owner is away."
        case (_, "manager"), (_, "accountable"): expected = "This has climbed to you: decide who fixes it and tell the customer what will happen."
        default: expected = "For your information; no action is needed from you unless asked."
        }
        let policyFlag = notice.trigger == .clear ? "" : " --policy \(notice.policy)"
        // Keys are left out rather than empty: Mustache treats "" and 0 as true.
        var noticeFacts: [String: Any] = [
            "id": notice.id, "policy": notice.policy, "measure": notice.measure, "trigger": notice.trigger.rawValue,
            "step": notice.step, "stepCount": notice.stepCount, "due": show(notice.dueAt),
        ]
        if let text = notice.subjectText, !text.isEmpty { noticeFacts["subjectText"] = clean(text) }
        var context: [String: Any] = [
            "headline": NoticeText.message(notice),
            "recipient": ["name": clean(recipient.name), "id": recipient.id, "role": recipient.role],
            "case": caseFacts,
            "notice": noticeFacts,
            "breach": notice.breachAt.map { ["at": show($0), "overdue": NoticeText.workingTime(notice.overdueSeconds)] } ?? [:],
            "expected": expected,
            "activity": activity,
            "history": history,
            "ack": "escalator ack \(notice.caseID)\(policyFlag) --by \(recipient.id) --for 4h --note \"what you are doing\"",
        ]
        if !notice.missed.isEmpty { context["missed"] = ["count": notice.missed.count] }
        if !notified.isEmpty { context["notified"] = notified.joined(separator: ", ") }
        return context
    }
}

/// "Tue 2026-03-03 16:00 +08:00": wall time in a zone, without a DateFormatter per call.
public enum LocalTime {
    public static func format(_ date: Date, in zone: TimeZone) -> String {
        format(date, offset: zone.secondsFromGMT(for: date))
    }

    /// The same at a given offset from UTC in seconds (a calendar's own, from its table).
    public static func format(_ date: Date, offset: Int) -> String {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down)) + offset
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let rest = seconds - days * 86_400
        let day = LocalDate(daysSinceEpoch: days)
        let weekdays = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        let sign = offset < 0 ? "-" : "+"
        let zoneText = "\(sign)\(String(abs(offset) / 3600).leftPadded(2)):\(String(abs(offset) % 3600 / 60).leftPadded(2))"
        return "\(weekdays[day.weekday]) \(day) \(String(rest / 3600).leftPadded(2)):\(String(rest % 3600 / 60).leftPadded(2)) \(zoneText)"
    }
}
