import Crypto
import EscalatorCore
import Foundation

/// An RFC 5322 message, built so that no value can inject a header: every value is stripped of control
/// characters, non-ASCII text goes into RFC 2047 encoded words, addresses must pass `MailAddress.isValid`, and the
/// body is quoted-printable UTF-8.
public struct MailMessage: Sendable {
    public struct Address: Sendable, Hashable {
        public let name: String
        public let address: String

        public init(name: String, address: String) {
            self.name = name
            self.address = address
        }
    }

    public var date: Date
    public var from: Address
    public var to: [Address]
    public var cc: [Address]
    public var subject: String
    public var messageID: String
    public var inReplyTo: String?
    public var references: [String]
    /// Extra headers, e.g. X-Escalator-Case; names must be plain ASCII tokens.
    public var extra: [(name: String, value: String)]
    public var body: String

    /// The stable Message-ID of a notice: `<HASH@DOMAIN>`, the hash of the notice id.
    public static func messageID(noticeID: String, domain: String) -> String {
        "<\(hash(noticeID, 32))@\(safeDomain(domain))>"
    }

    /// The Message-ID that all notices of a case refer to, so they thread together.
    public static func threadID(caseID: String, domain: String) -> String {
        "<case-\(hash(caseID, 32))@\(safeDomain(domain))>"
    }

    /// The first `length` hex digits of SHA-256.
    public static func hash(_ text: String, _ length: Int) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in SHA256.hash(data: Data(text.utf8)) {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out.prefix(length), as: UTF8.self)
    }

    static func safeDomain(_ domain: String) -> String {
        MailAddress.isValid("x@\(domain)") ? domain : "escalator.invalid"
    }

    /// Header text with every control character (CR, LF, NUL, TAB, DEL …) replaced by a space.
    public static func headerSafe(_ text: String) -> String {
        if text.isPrintableASCII() { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
    }

    /// A header value as ASCII: plain when it already is, else RFC 2047 `=?UTF-8?B?…?=` words of at most 75 chars.
    public static func encodeWords(_ text: String) -> String {
        let safe = headerSafe(text)
        if safe.unicodeScalars.allSatisfy({ $0.isASCII }) { return safe }
        var words: [String] = []
        var chunk = Data()
        for character in safe {
            let bytes = Data(String(character).utf8)
            // 45 bytes of UTF-8 make 60 base64 characters: with the 12 of "=?UTF-8?B??=", 72 in all.
            if chunk.count + bytes.count > 45 {
                words.append("=?UTF-8?B?\(chunk.base64EncodedString())?=")
                chunk = Data()
            }
            chunk.append(bytes)
        }
        if !chunk.isEmpty { words.append("=?UTF-8?B?\(chunk.base64EncodedString())?=") }
        return words.joined(separator: "\n ")
    }

    /// `Name <address>`, the name quoted or encoded as needed; nil if the address is not valid.
    public static func format(_ address: Address) -> String? {
        guard MailAddress.isValid(address.address) else { return nil }
        let name = headerSafe(address.name).trimmedOfWhitespace
        if name.isEmpty { return address.address }
        if name.utf8.allSatisfy({ $0 < 0x80 }) {
            let needsEscape = name.utf8.contains { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") }
            let escaped = needsEscape ? name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") : name
            return "\"\(escaped)\" <\(address.address)>"
        }
        return "\(encodeWords(name)) <\(address.address)>"
    }

    /// RFC 5322 date in UTC: "Tue, 03 Mar 2026 08:00:00 +0000".
    public static func formatDate(_ date: Date) -> String {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let rest = seconds - days * 86_400
        let day = LocalDate(daysSinceEpoch: days)
        let weekdays = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let time = [rest / 3600, rest % 3600 / 60, rest % 60].map { String($0).leftPadded(2) }.joined(separator: ":")
        return "\(weekdays[day.weekday]), \(String(day.day).leftPadded(2)) \(months[day.month - 1]) \(day.year) \(time) +0000"
    }

    /// Quoted-printable (RFC 2045) with soft line breaks at 76 characters; lines end in LF (a CR LF in the text
    /// is one line end). Worked on bytes: every email's body goes through it.
    public static func quotedPrintable(_ text: String) -> String {
        let bytes = Array(text.utf8)
        let hex = Array("0123456789ABCDEF".utf8)
        let lf: UInt8 = 0x0A
        let cr: UInt8 = 0x0D
        let equals: UInt8 = 0x3D
        /// Whether a line ends at `index`: LF, CR LF, or the end of the text.
        func lineEnds(at index: Int) -> Bool {
            index == bytes.count || bytes[index] == lf || (bytes[index] == cr && index + 1 < bytes.count && bytes[index + 1] == lf)
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + bytes.count / 8 + 2)
        var width = 0
        var index = 0
        while true {
            if lineEnds(at: index) {
                out.append(lf)
                width = 0
                if index == bytes.count { break }
                index += bytes[index] == cr ? 2 : 1
                continue
            }
            let byte = bytes[index]
            // Space and tab are kept except at the end of a line, where transports may strip them.
            let plain = (byte >= 33 && byte <= 126 && byte != equals) || ((byte == 32 || byte == 9) && !lineEnds(at: index + 1))
            let size = plain ? 1 : 3
            if width + size > 75 {
                out.append(equals)
                out.append(lf)
                width = 0
            }
            if plain {
                out.append(byte)
            } else {
                out.append(equals)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
            width += size
            index += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The message as the bytes of a file (LF line ends, as sendmail -t and Maildir expect). Recipients with
    /// invalid addresses are left out; nil if no valid To remains.
    public func rendered() -> String? {
        let toList = to.compactMap(Self.format)
        guard !toList.isEmpty, let fromText = Self.format(from) else { return nil }
        let ccList = cc.compactMap(Self.format)
        var headers: [(String, String)] = [
            ("Date", Self.formatDate(date)),
            ("From", fromText),
            ("To", toList.joined(separator: ",\n ")),
        ]
        if !ccList.isEmpty { headers.append(("Cc", ccList.joined(separator: ",\n "))) }
        headers.append(("Subject", Self.encodeWords(subject)))
        headers.append(("Message-ID", Self.headerSafe(messageID)))
        if let inReplyTo { headers.append(("In-Reply-To", Self.headerSafe(inReplyTo))) }
        if !references.isEmpty { headers.append(("References", references.map(Self.headerSafe).joined(separator: " "))) }
        headers.append(("Auto-Submitted", "auto-generated"))
        headers.append(("Precedence", "bulk"))
        for (name, value) in extra where name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || $0 == "-" || ("0"..."9").contains($0)) }) {
            headers.append((name, Self.encodeWords(value)))
        }
        headers += [
            ("MIME-Version", "1.0"),
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Transfer-Encoding", "quoted-printable"),
        ]
        return headers.map { "\($0.0): \($0.1)\n" }.joined() + "\n" + Self.quotedPrintable(body)
    }
}
