import Foundation

/// Mail address checks shared by the rule loader, the directory query and the mail writer.
public enum MailAddress {
    /// A deliberately strict addr-spec: dot-atom local part, dotted domain, no spaces, quotes or control characters.
    public static func isValid(_ text: String) -> Bool {
        // Every byte of a valid address is ASCII, so bytes and characters count alike.
        let bytes = Array(text.utf8)
        guard bytes.count <= 254, let at = bytes.firstIndex(of: UInt8(ascii: "@")) else { return false }
        let local = bytes[..<at]
        let domain = bytes[(at + 1)...]
        guard !local.isEmpty, local.count <= 64, !domain.isEmpty, !domain.contains(UInt8(ascii: "@")) else { return false }
        let dot = UInt8(ascii: ".")
        let hyphen = UInt8(ascii: "-")
        guard local.allSatisfy(isLocalByte), local.first != dot, local.last != dot,
            !zip(local, local.dropFirst()).contains(where: { $0 == dot && $1 == dot })
        else { return false }
        let labels = domain.split(separator: dot, omittingEmptySubsequences: false)
        guard labels.count >= 2 else { return false }
        return labels.allSatisfy { label in
            !label.isEmpty && label.count <= 63 && label.first != hyphen && label.last != hyphen
                && label.allSatisfy { isAlphanumeric($0) || $0 == hyphen }
        }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
    }

    private static let localSymbols = Array(".!#$%&'*+/=?^_`{|}~-".utf8)

    /// Letters, digits and `localSymbols`: what an unquoted local part may hold.
    private static func isLocalByte(_ byte: UInt8) -> Bool {
        isAlphanumeric(byte) || localSymbols.contains(byte)
    }
}
