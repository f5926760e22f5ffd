import Foundation

/// How `escalator reload` (the unit's `ExecReload=`) learns the daemon's verdict on a SIGHUP: the daemon
/// records how many reload requests it has handled and the last result in `reload.status` in its state directory.
public struct ReloadStatusFile: Sendable {
    public static let fileName = "reload.status"
    public let path: String

    public init(stateDirectory: String) { path = "\(stateDirectory)/\(Self.fileName)" }

    public struct Content: Sendable, Equatable {
        public let handled: Int
        public let ok: Bool
        public let detail: String
    }

    public func read() -> Content? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let lines = text.split(separator: "\n", maxSplits: 2, omittingEmptySubsequences: false)
        guard lines.count >= 2, let handled = Int(lines[0]) else { return nil }
        return Content(handled: handled, ok: lines[1] == "ok", detail: lines.count > 2 ? String(lines[2]) : "")
    }

    public func handled() -> Int { read()?.handled ?? 0 }

    /// Writes the verdict atomically (a temporary file renamed over the old one).
    func record(handled: Int, ok: Bool, detail: String) {
        let temporary = "\(path).tmp"
        let text = "\(handled)\n\(ok ? "ok" : "failed")\n\(detail)\n"
        guard (try? text.write(toFile: temporary, atomically: false, encoding: .utf8)) != nil else { return }
        rename(temporary, path)
    }
}
