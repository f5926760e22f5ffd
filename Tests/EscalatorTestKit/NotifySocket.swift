import Foundation

/// The service manager's end of `$NOTIFY_SOCKET`: an AF_UNIX datagram socket that collects sd_notify messages,
/// for testing the notify protocol without systemd.
public final class NotifySocket: @unchecked Sendable {
    public let path: String
    private let fd: Int32
    private let lock = NSLock()
    /// Everything the background reader has taken off the socket. It reads all the time, as the service manager
    /// does: a datagram queue left unread fills up and blocks the daemon's next sd_notify.
    private var received: [[String: String]] = []
    private var consumed = 0
    private var closed = false
    private var reader: Thread?

    /// The messages `receive` has gone through so far, in order, as their `KEY=value` assignments: the last one is
    /// the one that satisfied the latest `receive`.
    public var messages: [[String: String]] {
        lock.lock()
        defer { lock.unlock() }
        return Array(received[..<consumed])
    }

    public init(path: String) throws {
        self.path = path
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw PostgresServer.Failure(description: "socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw PostgresServer.Failure(description: "socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in bytes.enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw PostgresServer.Failure(description: "bind \(path): \(String(cString: strerror(errno)))") }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let reader = Thread { [weak self] in
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while let self, !self.isClosed {
                let count = buffer.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress, $0.count, 0) }
                guard count > 0 else { continue }
                var message: [String: String] = [:]
                for line in String(decoding: buffer[..<count], as: UTF8.self).split(separator: "\n") {
                    guard let equals = line.firstIndex(of: "=") else { continue }
                    message[String(line[..<equals])] = String(line[line.index(after: equals)...])
                }
                self.lock.lock()
                self.received.append(message)
                self.lock.unlock()
            }
        }
        reader.start()
        self.reader = reader
    }

    private var isClosed: Bool {
        lock.lock()
        defer { lock.unlock() }
        return closed
    }

    /// Goes through the messages after the last one gone through, waiting for more, until one satisfies
    /// `predicate` (true) or `timeout` seconds pass (false).
    @discardableResult
    public func receive(timeout: TimeInterval, until predicate: ([String: String]) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            lock.lock()
            while consumed < received.count {
                let message = received[consumed]
                consumed += 1
                if predicate(message) {
                    lock.unlock()
                    return true
                }
            }
            lock.unlock()
            usleep(20_000)
        } while Date() < deadline
        return false
    }

    /// Stops the reader.
    public func close() {
        lock.lock()
        closed = true
        lock.unlock()
    }

    deinit {
        Glibc.close(fd)
        unlink(path)
    }
}
