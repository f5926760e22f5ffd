import EscalatorCore
import Foundation
import Systemd

/// Where escalator's journal entries go: the journal itself, or readable lines on standard error.
///
/// Under systemd (`$JOURNAL_STREAM` names standard error) entries go to the journal with all their fields. In a
/// terminal they are readable lines; into a pipe they carry `<N>` priority prefixes, as sd-daemon(3) describes.
public final class EventWriter: @unchecked Sendable {
    public enum Mode: Sendable, Equatable {
        case journal
        case terminal
        case pipe
    }

    public let mode: Mode
    private let journal = Journal()
    private let lock = NSLock()
    private let output: FileHandle

    public init(mode: Mode, output: FileHandle = .standardError) {
        self.mode = mode
        self.output = output
    }

    /// The journal when standard error is connected to it, else a terminal or a pipe.
    public static func automaticMode(environment: [String: String] = ProcessInfo.processInfo.environment) -> Mode {
        if Journal.isStandardErrorJournal(environment: environment) { return .journal }
        return isatty(STDERR_FILENO) == 1 ? .terminal : .pipe
    }

    /// Writes one entry: a message, its syslog priority (0–7) and extra fields (journal field names). Returns false
    /// if the journal refused it (journald not running, say).
    @discardableResult
    public func write(priority: Int, message: String, fields: [(name: String, value: String)]) -> Bool {
        switch mode {
        case .journal:
            let entry = [("MESSAGE", message), ("PRIORITY", String(priority)), ("SYSLOG_IDENTIFIER", "escalator")] + fields
            return journal.send(entry.map { (name: $0.0, value: $0.1) }) == 0
        case .terminal, .pipe:
            let shown = fields.filter { $0.name != "MESSAGE_ID" }.map { "\($0.name.lowercased())=\(Self.oneLine($0.value))" }
            var line = Self.oneLine(message)
            if !shown.isEmpty { line += "  " + shown.joined(separator: " ") }
            if mode == .pipe {
                line = "<\(priority)>" + line
            } else {
                line = "\(Self.levelNames[min(max(priority, 0), 7)]): " + line
            }
            lock.lock()
            output.write(Data((line + "\n").utf8))
            lock.unlock()
            return true
        }
    }

    static let levelNames = ["emerg", "alert", "crit", "error", "warning", "notice", "info", "debug"]

    /// A value on one line: control characters are shown escaped.
    static func oneLine(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.properties.generalCategory == .control {
                    out += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// Writes a notice with every `ESCALATOR_*` field.
    @discardableResult
    public func write(_ notice: Notice, emailMessageID: String?) -> Bool {
        write(priority: NoticeText.priority(notice), message: Self.oneLine(NoticeText.message(notice)), fields: Self.fields(notice, emailMessageID: emailMessageID))
    }

    public static func fields(_ notice: Notice, emailMessageID: String?) -> [(name: String, value: String)] {
        var fields: [(name: String, value: String)] = [
            ("MESSAGE_ID", EventID(notice.trigger).messageID),
            ("ESCALATOR_CASE", notice.caseID),
            ("ESCALATOR_POLICY", notice.policy),
            ("ESCALATOR_STEP", String(notice.step)),
            ("ESCALATOR_TRIGGER", notice.trigger.rawValue),
            ("ESCALATOR_TO", notice.to.map(\.id).joined(separator: ",")),
            ("ESCALATOR_CC", notice.cc.map(\.id).joined(separator: ",")),
            ("ESCALATOR_DUE", TimestampFormat.iso(notice.dueAt)),
            ("ESCALATOR_OVERDUE_SECONDS", String(notice.overdueSeconds)),
            ("ESCALATOR_NOTICE_ID", notice.id),
        ]
        if let emailMessageID { fields.append(("ESCALATOR_EMAIL_MESSAGE_ID", emailMessageID)) }
        if let subject = notice.subject { fields.append(("ESCALATOR_SUBJECT", subject)) }
        if notice.repeatNumber > 0 { fields.append(("ESCALATOR_REPEAT", String(notice.repeatNumber))) }
        if !notice.missed.isEmpty { fields.append(("ESCALATOR_MISSED_STEPS", notice.missed.map { "\($0.step)" }.joined(separator: ","))) }
        if !notice.unresolved.isEmpty { fields.append(("ESCALATOR_UNRESOLVED", notice.unresolved.joined(separator: "; "))) }
        return fields
    }
}

/// UTC ISO 8601 text for instants in outputs.
public enum TimestampFormat {
    public static func iso(_ date: Date) -> String { UTCTimestamp.format(date) }
}
