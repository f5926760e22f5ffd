import Foundation

/// The daemon's exclusive hold on a state directory: an flock(2) on `escalator.lock`, released by the kernel when
/// the process ends however it ends. A second `escalator run` on the same directory fails at once, naming the
/// holder. Readers (`status`, `ack`) do not take it.
public final class StateLock: Sendable {
    public static let fileName = "escalator.lock"
    public let path: String
    private let descriptor: Int32

    public init(directory: String) throws {
        path = "\(directory)/\(Self.fileName)"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw StateError("cannot open \(path): \(String(cString: strerror(errno)))") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            let holder = Self.holder(fd)
            close(fd)
            if code == EWOULDBLOCK {
                let who = holder.map { "escalator run (pid \($0))" } ?? "another escalator run"
                throw StateError("the state directory \(directory) is in use by \(who); only one daemon may use a state directory")
            }
            throw StateError("cannot lock \(path): \(String(cString: strerror(code)))")
        }
        ftruncate(fd, 0)
        let pid = Array("\(getpid())\n".utf8)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        descriptor = fd
    }

    /// The pid recorded by the process holding the lock, if any.
    public static func holderPID(directory: String) -> Int32? {
        let fd = open("\(directory)/\(fileName)", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return holder(fd)
    }

    /// The pid of the escalator process holding the directory, if it is running: the pid file outlives the
    /// daemon, so the pid must name a live process whose name is escalator.
    public static func runningHolder(directory: String) -> Int32? {
        guard let pid = holderPID(directory: directory), pid > 0,
            let name = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8),
            name.trimmingCharacters(in: .whitespacesAndNewlines) == "escalator"
        else { return nil }
        return pid
    }

    private static func holder(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 31, 0) }
        guard count > 0 else { return nil }
        return Int32(String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    deinit { close(descriptor) }
}
