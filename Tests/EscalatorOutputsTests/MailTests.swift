import EscalatorConfig
import EscalatorCore
import EscalatorTestKit
import Foundation
import Testing

@testable import EscalatorOutputs

@Suite struct MailMessageTests {
    @Test func headerValuesCannotCarryLineBreaks() {
        #expect(MailMessage.headerSafe("Eve\r\nBcc: victim@example.com") == "Eve  Bcc: victim@example.com")
        #expect(MailMessage.headerSafe("a\u{0}b\u{7F}c\td") == "a b c d")
        #expect(MailMessage.encodeWords("plain") == "plain")
        #expect(MailMessage.encodeWords("Renée") == "=?UTF-8?B?UmVuw6ll?=")
        let long = MailMessage.encodeWords(String(repeating: "é", count: 60))
        #expect(long.split(separator: "\n").allSatisfy { $0.trimmingCharacters(in: .whitespaces).count <= 75 })
        #expect(MailMessage.format(.init(name: "Rep \"3\"", address: "rep3@x.example")) == "\"Rep \\\"3\\\"\" <rep3@x.example>")
        #expect(MailMessage.format(.init(name: "x", address: "a@b\r\nBcc: c@d.example")) == nil)
        #expect(MailMessage.quotedPrintable("café = 1 \n") == "caf=C3=A9 =3D 1=20\n\n")
    }

    @Test func hostileAndNonASCIIValuesParseCleanlyWithPython() throws {
        let directory = try TemporaryDirectory("escalator-mail")
        defer { directory.remove() }
        let settings = MailSettings(fromAddress: "escalator@trophy.example", fromName: "Escalator Bot", spool: directory.path)
        let renderer = try #require(NoticeRenderer.load(directory: nil, rules: nil).renderer)
        let mailer = NoticeMailer(settings: settings, renderer: renderer)
        let hostile = sampleNotice(
            caseID: "TT-9\r\nBcc: victim@evil.example", toName: "Renée Ünicode\r\nBcc: victim@evil.example",
            ccName: "Rep \"Three\" <x>", subject: "P1\nX-Injected: yes")
        let friendly = sampleNotice(caseID: "TT-1001", trigger: .warn, step: 1)
        let subject = Case(id: "TT-1001", kind: "custom-order", status: "in_production", owner: "rep3", openedAt: Date(timeIntervalSince1970: 1_772_422_200), activity: [
            Activity(id: "a", kind: .customerMessage, at: Date(timeIntervalSince1970: 1_772_500_000), actor: "customer", text: "Any news?\r\nBcc: x@y.example")
        ])
        #expect(try mailer.spool(hostile, subject: nil, state: nil, rules: sampleRules) == .written)
        #expect(try mailer.spool(friendly, subject: subject, state: nil, rules: sampleRules) == .written)
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(directory.path)/new").sorted().map { "\(directory.path)/new/\($0)" }
        #expect(files.count == 2)
        let parsed = try parseWithPython(files)
        for message in parsed {
            #expect((message["defects"] as? [String])?.isEmpty == true, "\(message["defects"] ?? "")")
            let headers = try #require(message["headers"] as? [String: [String]])
            #expect(headers["Bcc"] == nil && headers["X-Injected"] == nil)
            #expect(Set(headers.keys) == [
                "Date", "From", "To", "Cc", "Subject", "Message-ID", "In-Reply-To", "References", "Auto-Submitted", "Precedence",
                "X-Escalator-Case", "X-Escalator-Policy", "X-Escalator-Step", "X-Escalator-Trigger", "X-Escalator-Notice-Id",
                "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
            ])
            #expect(headers["Auto-Submitted"] == ["auto-generated"])
            #expect(message["to"] as? [String] == ["sup@trophy.example"])
            #expect(message["cc"] as? [String] == ["rep3@trophy.example"])
        }
        let byCase = Dictionary(uniqueKeysWithValues: parsed.map { (($0["headers"] as! [String: [String]])["X-Escalator-Case"]![0], $0) })
        let bad = try #require(byCase["TT-9  Bcc: victim@evil.example"])
        #expect(bad["to_names"] as? [String] == ["Renée Ünicode Bcc: victim@evil.example"])  // inert text inside the name
        let good = try #require(byCase["TT-1001"])
        let headers = good["headers"] as! [String: [String]]
        #expect(headers["Subject"] == ["[escalator] TT-1001: promised-delivery will breach soon (step 1/4)"])
        #expect(headers["Message-ID"] == [MailMessage.messageID(noticeID: friendly.id, domain: "trophy.example")])
        #expect(headers["In-Reply-To"] == [MailMessage.threadID(caseID: "TT-1001", domain: "trophy.example")])
        #expect(headers["From"] == ["Escalator Bot <escalator@trophy.example>"])
        let body = try #require(good["body"] as? String)
        #expect(body.contains("Hello Supervisor,"))
        #expect(body.contains("Case        TT-1001 (custom-order)"))
        #expect(body.contains("What we ask of you\n  Act before the breach"))
        #expect(body.contains("customer message by customer: Any news?  Bcc: x@y.example"))
        #expect(body.contains("escalator ack TT-1001 --policy promised-delivery --by rep5 --for 4h"))
    }
}

@Suite struct MailSpoolTests {
    @Test func aNoticeIsSpooledOnceEvenAfterItWasMoved() throws {
        let directory = try TemporaryDirectory("escalator-spool")
        defer { directory.remove() }
        let spool = MailSpool(root: directory.path)
        try spool.prepare()
        let name = MailSpool.fileName(noticeID: "../../etc/passwd/x/step1")
        #expect(name.dropLast(4).allSatisfy(\.isHexDigit) && name.hasSuffix(".eml") && name.count == 44)
        #expect(try spool.write(name: name, contents: "one") == .written)
        #expect(try spool.write(name: name, contents: "two") == .alreadyPresent)
        try spool.move(name, from: .new, to: .cur)
        #expect(try spool.write(name: name, contents: "three") == .alreadyPresent)
        #expect(try String(contentsOfFile: "\(directory.path)/cur/\(name)", encoding: .utf8) == "one")
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(directory.path)/tmp").isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(directory.path)/new").isEmpty)
    }

    @Test func aFailedWriteLeavesNothingBehindAndSaysWhy() throws {
        let spool = MailSpool(root: "/proc/escalator-cannot-write-here")
        do {
            try spool.write(name: "x.eml", contents: "hello")
            Issue.record("wrote into /proc")
        } catch let error as SpoolError {
            #expect(error.description.hasPrefix("create /proc/escalator-cannot-write-here/tmp/x.eml"))
        }
    }
}

@Suite struct TemplateTests {
    @Test func theShippedTemplateIsTheBuiltInOne() throws {
        #expect(try String(contentsOfFile: "\(repositoryRoot)/Config/templates/notice.mustache", encoding: .utf8) == NoticeRenderer.builtIn)
    }

    @Test func brokenAndMissingTemplatesAreDiagnostics() throws {
        let directory = try TemporaryDirectory("escalator-tpl")
        defer { directory.remove() }
        try "Hello {{name}}\n{{#open}}\nnever closed\n".write(toFile: "\(directory.path)/broken.mustache", atomically: true, encoding: .utf8)
        let policy = Policy(name: "p", measure: .unowned(after: .zero), calendar: .alwaysOpen(), ladder: Ladder(steps: [.init(anchor: .breach, to: [.role(.responsible)], template: "urgent")]))
        let rules = Rules(calendars: [:], directory: Directory([]), raci: Raci(), policies: [policy])
        let (renderer, diagnostics) = NoticeRenderer.load(directory: directory.path, rules: rules)
        #expect(renderer == nil)
        let shown = diagnostics.map { "\($0)".replacingOccurrences(of: directory.path + "/", with: "") }
        #expect(shown.count == 2)
        #expect(shown[0] == "broken.mustache:4:1: error: template: expectedSectionEnd")  // where the parser noticed
        #expect(shown[1].hasSuffix("error: policy \"p\" names template \"urgent\", which is not in \(directory.path) (urgent.mustache)"))
    }
}

@Suite struct EventWriterTests {
    @Test func withoutAJournalLinesCarryPriorityPrefixesIntoAPipe() throws {
        let pipe = Pipe()
        let writer = EventWriter(mode: .pipe, output: pipe.fileHandleForWriting)
        writer.write(sampleNotice(), emailMessageID: "<m@x>")
        writer.write(priority: 6, message: "started\nsecond line", fields: [("ESCALATOR_RULES", "v3")])
        try pipe.fileHandleForWriting.close()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let lines = text.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines[0].hasPrefix("<4>TT-1001 promised-delivery breached 9h ago: escalated to supervisor rep5 (step 3/4)  escalator_case=TT-1001"))
        #expect(lines[1] == "<6>started\\nsecond line  escalator_rules=v3")
    }

    @Test func prioritiesFollowTheStep() {
        #expect(NoticeText.priority(sampleNotice(trigger: .warn, step: 1)) == 5)
        #expect(NoticeText.priority(sampleNotice(trigger: .breach, step: 2)) == 4)
        #expect(NoticeText.priority(sampleNotice(trigger: .escalate, step: 4)) == 3)
        #expect(NoticeText.priority(sampleNotice(trigger: .clear, step: 0)) == 6)
        #expect(JournalLogHandler.fieldName("message_id") == "MESSAGE_ID")
        #expect(JournalLogHandler.fieldName("source.kind") == "ESCALATOR_SOURCE_KIND")
    }
}

/// The byte-level mail writers, checked on seeded random text against what they must guarantee.
@Suite struct MailEncodingTests {
    /// Pieces that matter to the encoders: plain text, `=`, spaces and tabs (kept inside a line, encoded at its
    /// end), every kind of line end, control and multi-byte characters, and long runs that need soft breaks.
    static let pieces = ["a", "Z", "0", " ", "\t", "=", "\n", "\r\n", "\r", "é", "€", "😀", "\u{0}", "\u{7F}", "~", ".", String(repeating: "x", count: 80), "  "]

    static func randomText(_ random: inout SplitMix64) -> String {
        (0..<Int(random.next() % 40)).map { _ in pieces[Int(random.next() % UInt64(pieces.count))] }.joined()
    }

    /// Decodes quoted-printable: soft breaks removed, `=XX` turned back into its byte.
    static func decode(_ encoded: String) -> String {
        var bytes: [UInt8] = []
        let input = Array(encoded.utf8)
        var index = 0
        while index < input.count {
            if input[index] == UInt8(ascii: "="), index + 1 < input.count, input[index + 1] == 0x0A {
                index += 2
            } else if input[index] == UInt8(ascii: "="), index + 2 < input.count,
                let value = UInt8(String(decoding: input[(index + 1)...(index + 2)], as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                index += 3
            } else {
                bytes.append(input[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test func quotedPrintableDecodesBackToTheTextAndKeepsEveryLineShortAndPlain() {
        var random = SplitMix64(state: 2045)
        for _ in 0..<5_000 {
            let text = Self.randomText(&random)
            let encoded = MailMessage.quotedPrintable(text)
            // Each line end of the text (LF or CR LF) is an LF, and one more ends the body.
            let lines = text.replacingOccurrences(of: "\r\n", with: "\n")
            #expect(Self.decode(encoded) == lines + "\n", "\(text.debugDescription)")
            for line in encoded.split(separator: "\n", omittingEmptySubsequences: false) {
                #expect(line.utf8.count <= 76, "\(text.debugDescription)")
                #expect(line.utf8.allSatisfy { $0 >= 0x21 && $0 <= 0x7E || $0 == 0x20 || $0 == 0x09 })
                #expect(line.utf8.last != 0x20 && line.utf8.last != 0x09, "\(text.debugDescription)")
            }
        }
        #expect(MailMessage.quotedPrintable("café = 1 \n") == "caf=C3=A9 =3D 1=20\n\n")
        #expect(MailMessage.quotedPrintable("a\r\nb\rc") == "a\nb=0Dc\n")
        #expect(MailMessage.quotedPrintable(String(repeating: "x", count: 80)) == String(repeating: "x", count: 75) + "=\nxxxxx\n")
    }

    /// The address check on bytes accepts exactly what the former check on characters accepted (kept here as
    /// the oracle), over seeded random strings from pieces of valid and invalid addresses.
    @Test func addressCheckAgreesWithTheCharacterRules() {
        func oracle(_ text: String) -> Bool {
            let parts = text.split(separator: "@", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, parts[0].count <= 64, !parts[1].isEmpty, text.count <= 254 else { return false }
            let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.!#$%&'*+/=?^_`{|}~-")
            let local = parts[0]
            guard local.unicodeScalars.allSatisfy(allowed.contains), !local.hasPrefix("."), !local.hasSuffix("."), !local.contains("..")
            else { return false }
            let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
            guard labels.count >= 2 else { return false }
            return labels.allSatisfy { label in
                !label.isEmpty && label.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                    && label.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "-") }
            }
        }
        // A local part, "@" and a domain, each from pieces of which most are valid there and some are not.
        let local = ["rep3", "a", "Z9", ".", "..", "-", "+tag", "_", "!", "~", "x.y", " ", "\r\n", "é", "\"", "@", String(repeating: "a", count: 64)]
        let label = ["example", "com", "a-b", "-", "x", "9", "", "_", "é", " ", String(repeating: "b", count: 63), String(repeating: "c", count: 130)]
        var random = SplitMix64(state: 5322)
        func some(_ pieces: [String], _ most: Int, separator: String) -> String {
            (0..<(1 + Int(random.next() % UInt64(most)))).map { _ in pieces[Int(random.next() % UInt64(pieces.count))] }.joined(separator: separator)
        }
        var valid = 0
        for _ in 0..<30_000 {
            let at = random.next() % 10 == 0 ? "" : "@"
            let text = some(local, 3, separator: "") + at + some(label, 4, separator: ".")
            #expect(MailAddress.isValid(text) == oracle(text), "\(text.debugDescription)")
            if oracle(text) { valid += 1 }
        }
        #expect(valid > 500)
        for text in ["rep3@trophy.example", "a@b.c", "x@-a.com", "x@a-.com", ".x@a.com", "x.@a.com", "x..y@a.com", "x@a..com", "x@com",
                     String(repeating: "a", count: 65) + "@a.com", "a@" + String(repeating: "b", count: 64) + ".com", "a@b@c.com", "a b@c.com"] {
            #expect(MailAddress.isValid(text) == oracle(text), "\(text)")
        }
    }
}
