import EscalatorCore
import Foundation

/// The `mail` section: who the messages come from, where the spool is, how it is flushed.
public struct MailSettings: Sendable, Hashable {
    /// The From address.
    public let fromAddress: String
    /// The From display name.
    public let fromName: String
    /// The Maildir spool (tmp/, new/, cur/, failed/).
    public let spool: String
    /// The sendmail-compatible command, split into words; the message is given on its standard input.
    public let sendmail: [String]
    /// After this many failed attempts a message moves to failed/.
    public let maxAttempts: Int
    /// The folder of Mustache templates, or nil for the built-in default only.
    public let templates: String?

    public static let defaultSpool = "/var/spool/escalator"
    public static let defaultSendmail = ["/usr/sbin/sendmail", "-t", "-oi"]

    public init(
        fromAddress: String, fromName: String = "escalator", spool: String = MailSettings.defaultSpool,
        sendmail: [String] = MailSettings.defaultSendmail, maxAttempts: Int = 8, templates: String? = nil
    ) {
        self.fromAddress = fromAddress
        self.fromName = fromName
        self.spool = spool
        self.sendmail = sendmail
        self.maxAttempts = maxAttempts
        self.templates = templates
    }

    /// The same settings with another spool folder.
    public func with(spool: String) -> MailSettings {
        MailSettings(fromAddress: fromAddress, fromName: fromName, spool: spool, sendmail: sendmail, maxAttempts: maxAttempts, templates: templates)
    }

    /// The domain of the From address, used in Message-IDs.
    public var domain: String { fromAddress.split(separator: "@").last.map(String.init) ?? "escalator.invalid" }
}

extension RulesBuilder {
    func buildMail() -> MailSettings? {
        guard let node = section("mail"), !node.isNull, let mapping = YAMLMapping(node, "\"mail\"", sink) else { return nil }
        mapping.allowOnly(["from", "from_name", "spool", "sendmail", "max_attempts", "templates"])
        var ok = true
        var from = ""
        if let value = mapping.require("from"), let text = sink.text(value, "from") {
            if MailAddress.isValid(text) { from = text } else {
                sink.error(value, "from must be a plain address (local@domain.example), found \"\(text)\"")
                ok = false
            }
        } else {
            ok = false
        }
        let name = mapping["from_name"].flatMap { sink.text($0, "from_name") } ?? "escalator"
        func path(_ text: String) -> String { text.hasPrefix("/") ? text : "\(directory)/\(text)" }
        let spool = mapping["spool"].flatMap { sink.text($0, "spool") }.map(path) ?? MailSettings.defaultSpool
        var sendmail = MailSettings.defaultSendmail
        if let value = mapping["sendmail"], let text = sink.text(value, "sendmail") {
            sendmail = text.split(separator: " ").map(String.init)
            if !(sendmail.first?.hasPrefix("/") ?? false) {
                sink.error(value, "sendmail must start with an absolute path, e.g. \"/usr/sbin/sendmail -t -oi\"")
                ok = false
            }
        }
        var attempts = 8
        if let value = mapping["max_attempts"], let text = sink.text(value, "max_attempts") {
            if let number = Int(text), number >= 1 { attempts = number } else {
                sink.error(value, "max_attempts must be a whole number of at least 1")
                ok = false
            }
        }
        var templates: String? = FileManager.default.fileExists(atPath: "\(directory)/templates") ? "\(directory)/templates" : nil
        if let value = mapping["templates"], let text = sink.text(value, "templates") { templates = path(text) }
        guard ok else { return nil }
        return MailSettings(fromAddress: from, fromName: name, spool: spool, sendmail: sendmail, maxAttempts: attempts, templates: templates)
    }
}
