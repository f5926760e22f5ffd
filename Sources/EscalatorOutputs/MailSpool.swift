import EscalatorConfig
import EscalatorCore
import Foundation

/// The email spool: a Maildir (`tmp/`, `new/`, `cur/`) plus `failed/` for mail that could not be sent.
///
/// A message's file name comes from its notice's identity, so writing the same notice again never makes a
/// second message, even after the flusher has moved the first one to `cur/` or `failed/`.
public struct MailSpool: Sendable {
    public let root: String

    public init(root: String) { self.root = root }

    public enum Folder: String, CaseIterable, Sendable {
        case tmp, new, cur, failed
        case retry = ".retry"
    }

    public func path(_ folder: Folder) -> String { "\(root)/\(folder.rawValue)" }

    /// Creates the folders if they are missing.
    public func prepare() throws {
        for folder in Folder.allCases {
            try FileManager.default.createDirectory(atPath: path(folder), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        }
    }

    /// Removes half-written messages that a process died with: tmp/ files whose name ends in the pid of a
    /// process that no longer exists. Returns how many were removed.
    @discardableResult
    public func removeAbandonedTemporaryFiles() -> Int {
        var removed = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: path(.tmp))) ?? [] {
            guard let dot = name.lastIndex(of: "."), let pid = Int32(name[name.index(after: dot)...]), pid > 0, pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH, unlink("\(path(.tmp))/\(name)") == 0 { removed += 1 }
        }
        return removed
    }

    /// The spool file name of a notice: hex only, so no id can reach outside the spool.
    public static func fileName(noticeID: String) -> String { "\(MailMessage.hash(noticeID, 40)).eml" }

    /// True if the message is in new/, cur/ or failed/.
    public func contains(_ name: String) -> Bool {
        [Folder.new, .cur, .failed].contains { FileManager.default.fileExists(atPath: "\(path($0))/\(name)") }
    }

    public enum WriteResult: Sendable, Equatable { case written, alreadyPresent }

    /// Writes a message atomically: to tmp/, fsync, rename into new/, fsync new/. Throws on any failure (a full
    /// disk, say), leaving nothing half-written behind.
    @discardableResult
    public func write(name: String, contents: String) throws -> WriteResult {
        if contains(name) { return .alreadyPresent }
        let temporary = "\(path(.tmp))/\(name).\(getpid())"
        let data = Array(contents.utf8)
        do {
            try Self.writeFile(temporary, data, sync: true)
        } catch let error as SpoolError where error.code == ENOENT {
            try? prepare()
            try Self.writeFile(temporary, data, sync: true)
        }
        if rename(temporary, "\(path(.new))/\(name)") != 0 {
            let code = errno
            unlink(temporary)
            throw SpoolError("rename into \(path(.new))", code)
        }
        try Self.syncDirectory(path(.new))
        return .written
    }

    /// The outcome of a batch write: the names now in the spool (written or already there), and the first
    /// failure, after which nothing more was attempted.
    public struct BatchResult: Sendable {
        public var stored: [String] = []
        public var failure: (name: String, error: SpoolError)?
    }

    /// Writes many messages with one flush to disk for the whole batch instead of one per message: every file is
    /// written to tmp/, the file system is synced once (syncfs), then all are renamed into new/ and new/ is
    /// synced once. A message appears in new/ only after its contents are on disk, as with `write`.
    public func write(batch items: [(name: String, contents: String)]) -> BatchResult {
        var result = BatchResult()
        if !FileManager.default.fileExists(atPath: path(.tmp)) { try? prepare() }
        var pending: [(name: String, temporary: String)] = []
        for item in items {
            if contains(item.name) {
                result.stored.append(item.name)
                continue
            }
            let temporary = "\(path(.tmp))/\(item.name).\(getpid())"
            do {
                try Self.writeFile(temporary, Array(item.contents.utf8), sync: false)
                pending.append((item.name, temporary))
            } catch let error as SpoolError {
                result.failure = (item.name, error)
                break
            } catch {
                result.failure = (item.name, SpoolError("write \(temporary)", EIO))
                break
            }
        }
        guard !pending.isEmpty else { return result }
        let directory = open(path(.tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory < 0 || Self.syncFileSystem(directory, files: pending.map(\.temporary)) != 0 {
            let code = errno
            if directory >= 0 { close(directory) }
            for item in pending { unlink(item.temporary) }
            result.failure = (pending[0].name, SpoolError("sync \(path(.tmp))", code))
            return result
        }
        close(directory)
        var renamed: [String] = []
        for item in pending {
            if rename(item.temporary, "\(path(.new))/\(item.name)") != 0 {
                let code = errno
                unlink(item.temporary)
                if result.failure == nil { result.failure = (item.name, SpoolError("rename into \(path(.new))", code)) }
                break
            }
            renamed.append(item.name)
        }
        do {
            try Self.syncDirectory(path(.new))
            result.stored += renamed
        } catch let error as SpoolError {
            result.failure = (renamed.first ?? pending[0].name, error)
        } catch {}
        return result
    }

    /// syncfs(2) (one flush for every file written), looked up at run time since Glibc's module does not export
    /// it; where it is missing, each file is fsynced instead. Returns 0 or -1 with errno set.
    static func syncFileSystem(_ directory: Int32, files: [String]) -> Int32 {
        typealias SyncFS = @convention(c) (Int32) -> Int32
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "syncfs") {
            return unsafeBitCast(symbol, to: SyncFS.self)(directory)
        }
        for file in files {
            let fd = open(file, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return -1 }
            defer { close(fd) }
            if fsync(fd) != 0 { return -1 }
        }
        return 0
    }

    /// Creates `path` with `bytes`; fsyncs it when `sync`. Leaves nothing behind on failure.
    static func writeFile(_ path: String, _ data: [UInt8], sync: Bool) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw SpoolError("create \(path)", errno) }
        var written = 0
        while written < data.count {
            let n = data.withUnsafeBytes { Foundation.write(fd, $0.baseAddress! + written, data.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                let code = errno
                close(fd)
                unlink(path)
                throw SpoolError("write \(path)", code)
            }
            written += n
        }
        if sync && fsync(fd) != 0 {
            let code = errno
            close(fd)
            unlink(path)
            throw SpoolError("fsync \(path)", code)
        }
        close(fd)
    }

    static func syncDirectory(_ directory: String) throws {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SpoolError("open \(directory)", errno) }
        defer { close(fd) }
        if fsync(fd) != 0 { throw SpoolError("fsync \(directory)", errno) }
    }

    /// Moves a message between folders and syncs the target folder.
    func move(_ name: String, from: Folder, to: Folder) throws {
        if rename("\(path(from))/\(name)", "\(path(to))/\(name)") != 0 { throw SpoolError("move \(name) to \(to.rawValue)/", errno) }
        try Self.syncDirectory(path(to))
    }
}

/// A spool operation that failed, with the system's reason.
public struct SpoolError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let code: Int32

    init(_ operation: String, _ code: Int32) {
        self.operation = operation
        self.code = code
    }

    public var isDiskFull: Bool { code == ENOSPC || code == EDQUOT }
    public var description: String { "\(operation): \(String(cString: strerror(code)))" }
}

/// Turns notices into spool messages.
public struct NoticeMailer: Sendable {
    public let settings: MailSettings
    public let renderer: NoticeRenderer
    public let spool: MailSpool

    public init(settings: MailSettings, renderer: NoticeRenderer) {
        self.settings = settings
        self.renderer = renderer
        self.spool = MailSpool(root: settings.spool)
    }

    /// The Message-ID the notice's email has (or will have).
    public func messageID(_ notice: Notice) -> String { MailMessage.messageID(noticeID: notice.id, domain: settings.domain) }

    /// The message for a notice; nil when no recipient has a valid address.
    public func message(_ notice: Notice, subject: Case?, state: EscalationState?, rules: Rules) -> MailMessage? {
        guard let first = notice.to.first else { return nil }
        let thread = MailMessage.threadID(caseID: notice.caseID, domain: settings.domain)
        return MailMessage(
            date: notice.decidedAt, from: .init(name: settings.fromName, address: settings.fromAddress),
            to: notice.to.map { .init(name: $0.name, address: $0.email) }, cc: notice.cc.map { .init(name: $0.name, address: $0.email) },
            subject: NoticeText.subject(notice), messageID: messageID(notice), inReplyTo: thread, references: [thread],
            extra: [
                ("X-Escalator-Case", notice.caseID), ("X-Escalator-Policy", notice.policy), ("X-Escalator-Step", String(notice.step)),
                ("X-Escalator-Trigger", notice.trigger.rawValue), ("X-Escalator-Notice-Id", notice.id),
            ],
            body: renderer.body(notice, recipient: first, subject: subject, state: state, rules: rules))
    }

    /// Writes the notice's email into the spool (once). Returns nil when there was nobody to mail.
    @discardableResult
    public func spool(_ notice: Notice, subject: Case?, state: EscalationState?, rules: Rules) throws -> MailSpool.WriteResult? {
        guard let text = message(notice, subject: subject, state: state, rules: rules)?.rendered() else { return nil }
        return try spool.write(name: MailSpool.fileName(noticeID: notice.id), contents: text)
    }
}
