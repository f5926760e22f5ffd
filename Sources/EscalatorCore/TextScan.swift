import Foundation

/// Byte-level checks for the common case of plain ASCII text. Mapping a million rows calls these for every field,
/// and Foundation's `trimmingCharacters(in:)` bridges through NSString, which costs more than reading the row.
extension String {
    /// Whether every byte is printable ASCII (space to tilde), or a tab when `tab` is true.
    public func isPrintableASCII(allowingTab tab: Bool = false) -> Bool {
        // Over the contiguous UTF-8 (no copy for a native string): a plain loop the compiler can unroll.
        var text = self
        return text.withUTF8 { bytes in
            for byte in bytes where !((byte >= 0x20 && byte < 0x7F) || (tab && byte == 0x09)) { return false }
            return true
        }
    }

    /// The text without leading and trailing whitespace (Unicode `Zs` and tab, as `CharacterSet.whitespaces`).
    /// Text that starts and ends with a non-space ASCII byte is returned as it is, without a copy.
    public var trimmedOfWhitespace: String {
        guard let first = utf8.first, let last = utf8.last else { return self }
        if first > 0x20 && first < 0x80 && last > 0x20 && last < 0x80 { return self }
        return trimmingCharacters(in: .whitespaces)
    }
}
