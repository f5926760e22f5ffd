import ArgumentParser
import EscalatorConfig
import EscalatorOutputs
import Foundation
import Logging

struct Mail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with the email spool.",
        subcommands: [Flush.self])

    struct Flush: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Hand each spooled message to sendmail; move sent mail to cur/, retry or give up on the rest.",
            discussion: """
                Messages in new/ go to the sendmail-compatible command on its standard input. Sent ones move to cur/. \
                A failure is retried on later runs with growing pauses; after --max-attempts it moves to failed/. \
                Nothing unsent is ever deleted. Settings come from the mail section of the configuration; options \
                override them.
                """)

        @OptionGroup var options: ConfigOptions
        @Option(help: "The spool folder (default: mail.spool, else \(MailSettings.defaultSpool)).") var spool: String?
        @Option(help: "The sendmail command, e.g. \"/usr/bin/msmtp -t\" (default: mail.sendmail).") var sendmail: String?
        @Option(help: "Attempts before a message moves to failed/ (default: mail.max_attempts, else 8).") var maxAttempts: Int?

        func run() async throws {
            let writer = EventWriter(mode: EventWriter.automaticMode())
            let logger = Logger(label: "escalator.mail") { _ in JournalLogHandler(writer: writer) }
            var settings: MailSettings?
            if FileManager.default.fileExists(atPath: "\(options.config)/escalator.yaml") {
                let result = ConfigLoader.load(directory: options.config)
                guard let configuration = result.configuration else {
                    for diagnostic in result.diagnostics { print(diagnostic, to: &standardError) }
                    throw ExitCode.failure
                }
                settings = configuration.mail
            }
            let flusher = MailFlusher(
                spool: MailSpool(root: spool ?? settings?.spool ?? MailSettings.defaultSpool),
                command: sendmail.map { $0.split(separator: " ").map(String.init) } ?? settings?.sendmail ?? MailSettings.defaultSendmail,
                maxAttempts: maxAttempts ?? settings?.maxAttempts ?? 8)
            let report: MailFlusher.Report
            do {
                report = try flusher.flush(now: Date())
            } catch {
                logger.error("mail flush: \(error)")
                throw ExitCode.failure
            }
            for name in report.sent { logger.info("mail sent", metadata: ["spool_file": "\(name)"]) }
            for name in report.deferred {
                logger.warning("mail not sent, will retry: \(report.errors[name] ?? "")", metadata: ["spool_file": "\(name)"])
            }
            for name in report.failed {
                logger.error("mail given up after \(flusher.maxAttempts) attempts, kept in failed/: \(report.errors[name] ?? "")", metadata: ["spool_file": "\(name)"])
            }
            if !report.sent.isEmpty || !report.deferred.isEmpty || !report.failed.isEmpty {
                logger.notice("mail flush: \(report.sent.count) sent, \(report.deferred.count) to retry, \(report.failed.count) failed, \(report.waiting.count) waiting")
            }
        }
    }
}
