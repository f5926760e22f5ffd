import EscalatorConfig
import EscalatorCore
import EscalatorTestKit
import Foundation
import Testing

@testable import EscalatorOutputs

/// A real delivery chain: the spool's flusher runs msmtp as its sendmail command, which delivers over SMTP to
/// aiosmtpd listening on 127.0.0.1 and storing what arrives in a Maildir.
@Suite(.serialized) struct DeliveryTests {
    struct Chain {
        let directory: TemporaryDirectory
        let port = Int.random(in: 41_000...49_000)
        var spool: MailSpool { MailSpool(root: "\(directory.path)/spool") }
        var mailbox: String { "\(directory.path)/mailbox" }

        init() throws {
            directory = try TemporaryDirectory("escalator-delivery")
            let rc = "\(directory.path)/msmtprc"
            try """
                account default
                host 127.0.0.1
                port \(port)
                from escalator@trophy.example
                auth off
                tls off
                timeout 5

                """.write(toFile: rc, atomically: true, encoding: .utf8)
            chmod(rc, 0o600)
        }

        var command: [String] { ["/usr/bin/msmtp", "-C", "\(directory.path)/msmtprc", "-t", "-oi"] }

        func startServer() throws -> BackgroundProcess {
            let server = try BackgroundProcess(["/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:\(port)", "-c", "aiosmtpd.handlers.Mailbox", mailbox])
            try BackgroundProcess.waitForPort(port)
            return server
        }

        func delivered() throws -> [String] {
            let folder = "\(mailbox)/new"
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            return names.sorted().map { "\(folder)/\($0)" }
        }

        func spoolNotices(_ notices: [Notice]) throws {
            let renderer = try #require(NoticeRenderer.load(directory: nil, rules: nil).renderer)
            let mailer = NoticeMailer(settings: MailSettings(fromAddress: "escalator@trophy.example", spool: spool.root), renderer: renderer)
            for notice in notices { try mailer.spool(notice, subject: nil, state: nil, rules: sampleRules) }
        }
    }

    static let notices = [
        sampleNotice(caseID: "TT-1001", step: 3),
        sampleNotice(caseID: "TT-2002", trigger: .breach, step: 2, toName: "José Ñúñez", ccName: "Zoë Ærø"),
        sampleNotice(caseID: "TT-3003", step: 4, toName: "Mallory\r\nBcc: victim@evil.example", subject: "P\r\nX-Evil: 1"),
    ]

    @Test func spooledMailArrivesOnceWithItsHeaders() throws {
        let chain = try Chain()
        defer { chain.directory.remove() }
        let server = try chain.startServer()
        defer { server.stop() }
        try chain.spoolNotices(Self.notices)
        let flusher = MailFlusher(spool: chain.spool, command: chain.command, maxAttempts: 3)
        let report = try flusher.flush(now: Date())
        #expect(report.sent.count == 3 && report.deferred.isEmpty, "\(report.errors)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: chain.spool.path(.cur)).count == 3)
        #expect(try FileManager.default.contentsOfDirectory(atPath: chain.spool.path(.new)).isEmpty)
        // A second flush sends nothing, and spooling the same notices again adds nothing.
        try chain.spoolNotices(Self.notices)
        #expect(try flusher.flush(now: Date()).sent.isEmpty)

        let arrived = try parseWithPython(try chain.delivered())
        #expect(arrived.count == 3)
        let byCase = Dictionary(uniqueKeysWithValues: arrived.map { (($0["headers"] as! [String: [String]])["X-Escalator-Case"]![0], $0) })
        let nonASCII = try #require(byCase["TT-2002"])
        #expect(nonASCII["to_names"] as? [String] == ["José Ñúñez"])
        let headers = nonASCII["headers"] as! [String: [String]]
        #expect(headers["Cc"] == ["Zoë Ærø <rep3@trophy.example>"])
        // The envelope (what msmtp -t took from To and Cc) reached both recipients.
        #expect(headers["X-RcptTo"]?.first?.contains("sup@trophy.example") == true)
        #expect(headers["X-RcptTo"]?.first?.contains("rep3@trophy.example") == true)
        let hostile = try #require(byCase["TT-3003"])
        let hostileHeaders = hostile["headers"] as! [String: [String]]
        #expect(hostileHeaders["Bcc"] == nil && hostileHeaders["X-Evil"] == nil)
        #expect(hostileHeaders["X-RcptTo"]?.first?.contains("victim") == false)
        #expect((hostile["defects"] as? [String])?.isEmpty == true)
    }

    @Test func whenTheServerIsDownNothingIsLostAndNothingIsSentTwice() throws {
        let chain = try Chain()
        defer { chain.directory.remove() }
        try chain.spoolNotices(Self.notices)
        let flusher = MailFlusher(spool: chain.spool, command: chain.command, maxAttempts: 5, firstDelay: 60)
        let start = Date()

        let down = try flusher.flush(now: start)
        #expect(down.sent.isEmpty && down.deferred.count == 3)
        #expect(down.errors.values.allSatisfy { $0.hasPrefix("exit status") })
        let early = try flusher.flush(now: start.addingTimeInterval(30))
        #expect(early.waiting.count == 3 && early.sent.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: chain.spool.path(.new)).count == 3)

        let server = try chain.startServer()
        defer { server.stop() }
        let back = try flusher.flush(now: start.addingTimeInterval(61))
        #expect(back.sent.count == 3)
        #expect(try flusher.flush(now: start.addingTimeInterval(3600)).sent.isEmpty)
        #expect(try chain.delivered().count == 3)
        #expect(try FileManager.default.contentsOfDirectory(atPath: chain.spool.path(.retry)).isEmpty)
    }

    @Test func afterTheLastAttemptMailIsKeptInFailed() throws {
        let chain = try Chain()
        defer { chain.directory.remove() }
        try chain.spoolNotices([Self.notices[0]])
        let flusher = MailFlusher(spool: chain.spool, command: chain.command, maxAttempts: 2, firstDelay: 60)
        let start = Date()
        #expect(try flusher.flush(now: start).deferred.count == 1)
        let last = try flusher.flush(now: start.addingTimeInterval(60))
        #expect(last.failed.count == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: chain.spool.path(.failed)).count == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: chain.spool.path(.new)).isEmpty)
        // Spooling the same notice again does not bring it back.
        try chain.spoolNotices([Self.notices[0]])
        #expect(try FileManager.default.contentsOfDirectory(atPath: chain.spool.path(.new)).isEmpty)
    }
}
