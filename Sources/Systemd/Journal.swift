import CSystemd
import Foundation

/// Writes entries to the systemd journal through its native protocol (`sd_journal_sendv`).
///
/// Each field is one `NAME=value` item, so a value can never start another field: newlines and any other bytes
/// in a value are carried as they are (libsystemd switches to its binary-safe encoding when needed).
public struct Journal: Sendable {
    public init() {}

    /// Field names the journal accepts: upper-case letters, digits and underscores, not starting with `_` or a digit.
    public static func isValidFieldName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first != "_", !("0"..."9").contains(first), name.count <= 64 else { return false }
        return name.unicodeScalars.allSatisfy { ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
    }

    /// Sends one entry. Fields with invalid names are dropped; returns the errno on failure (0 on success).
    @discardableResult
    public func send(_ fields: [(name: String, value: String)]) -> Int32 {
        let items = fields.filter { Self.isValidFieldName($0.name) }.map { Array("\($0.name)=\($0.value)".utf8) }
        guard !items.isEmpty else { return EINVAL }
        let buffers: [UnsafeMutableRawBufferPointer] = items.map { bytes in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
            buffer.copyBytes(from: bytes)
            return buffer
        }
        defer { buffers.forEach { $0.deallocate() } }
        var vectors = zip(buffers, items).map { iovec(iov_base: $0.0.baseAddress, iov_len: $0.1.count) }
        let result = vectors.withUnsafeMutableBufferPointer { sd_journal_sendv($0.baseAddress, Int32($0.count)) }
        return result < 0 ? -result : 0
    }

    /// True if standard error is the journal stream systemd set up for this service (`$JOURNAL_STREAM` names
    /// its device and inode).
    public static func isStandardErrorJournal(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard let stream = environment["JOURNAL_STREAM"] else { return false }
        let parts = stream.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(STDERR_FILENO, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }

    /// True if the journal's socket exists, i.e. a journald is running that entries can go to.
    public static var isReachable: Bool {
        FileManager.default.fileExists(atPath: "/run/systemd/journal/socket")
    }
}
