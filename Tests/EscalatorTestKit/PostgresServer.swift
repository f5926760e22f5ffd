import EscalatorOutputs
import Foundation

/// A throwaway PostgreSQL server for tests: `initdb` into a temporary folder, listening on 127.0.0.1 and a private
/// Unix socket. Local socket connections are trusted (for setup); TCP connections need a password (SCRAM).
/// When the tests run as root, the server runs as the `postgres` user, since PostgreSQL refuses root.
public final class PostgresServer: @unchecked Sendable {
    public let directory: String
    public let port: Int
    public let superuserPassword = "test-superuser-secret"
    private let bin: String
    private let runAs: String?

    public var socketDirectory: String { "\(directory)/socket" }
    public var dataDirectory: String { "\(directory)/data" }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// Finds PostgreSQL's server programs (Debian keeps them under /usr/lib/postgresql/VERSION/bin).
    static func binDirectory() throws -> String {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
        guard let version = versions.last else {
            throw Failure(description: "PostgreSQL is not installed (apt-get install postgresql); .ci/run installs it")
        }
        return "\(root)/\(version)/bin"
    }

    public init() throws {
        bin = try Self.binDirectory()
        runAs = getuid() == 0 ? "postgres" : nil
        directory = "/tmp/escalator-pg-\(UUID().uuidString.prefix(8))"
        port = Int.random(in: 20_000...40_000)
        try FileManager.default.createDirectory(atPath: "\(directory)/socket", withIntermediateDirectories: true)
        let passwordFile = "\(directory)/pw"
        try superuserPassword.write(toFile: passwordFile, atomically: true, encoding: .utf8)
        if let runAs { _ = try Self.run("/bin/chown", ["-R", "\(runAs):\(runAs)", directory]) }
        try command("initdb", ["-D", dataDirectory, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile=\(passwordFile)", "-E", "UTF8", "--locale=C.UTF-8"])
        try start()
        PostgresServer.registry.add(self)
    }

    deinit { destroy() }

    /// Every server started in this process, stopped when it exits (tests hold some in globals).
    static let registry = Registry()

    final class Registry: @unchecked Sendable {
        private let lock = NSLock()
        private var servers: [PostgresServer] = []
        private var hooked = false

        func add(_ server: PostgresServer) {
            lock.lock()
            defer { lock.unlock() }
            servers.append(server)
            if !hooked {
                hooked = true
                atexit { PostgresServer.registry.destroyAll() }
            }
        }

        /// At exit: Process cannot be used any more, so signal each postmaster directly (SIGQUIT: immediate stop).
        func destroyAll() {
            lock.lock()
            let all = servers
            servers = []
            lock.unlock()
            for server in all {
                if let text = try? String(contentsOfFile: "\(server.dataDirectory)/postmaster.pid", encoding: .utf8),
                    let pid = text.split(separator: "\n").first.flatMap({ Int32($0) })
                {
                    kill(pid, SIGQUIT)
                }
            }
            usleep(300_000)
            for server in all { try? FileManager.default.removeItem(atPath: server.directory) }
        }
    }

    /// Starts (or restarts) the server and waits until it accepts connections.
    public func start() throws {
        try command("pg_ctl", ["-D", dataDirectory, "-l", "\(directory)/server.log", "-w", "-t", "30", "-o",
                               "-p \(port) -k \(socketDirectory) -c listen_addresses=127.0.0.1 -c fsync=off", "start"])
    }

    /// Stops the server at once (in-flight sessions are cut).
    public func stop() throws {
        guard FileManager.default.fileExists(atPath: "\(dataDirectory)/postmaster.pid") else { return }
        try command("pg_ctl", ["-D", dataDirectory, "-m", "fast", "-w", "stop"])
    }

    /// Removes the server and its files.
    public func destroy() {
        try? stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs SQL as the superuser over the private socket; returns psql's output (unaligned, tuples only).
    @discardableResult
    public func psql(_ sql: String, database: String = "postgres") throws -> String {
        try command("psql", ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", socketDirectory, "-p", String(port), "-U", "postgres", "-d", database, "-c", sql])
    }

    @discardableResult
    private func command(_ name: String, _ arguments: [String]) throws -> String {
        if let runAs {
            return try Self.run("/usr/sbin/runuser", ["-u", runAs, "--", "\(bin)/\(name)"] + arguments)
        }
        return try Self.run("\(bin)/\(name)", arguments)
    }

    /// Runs a program and returns what it printed; throws if it fails.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let result = try Subprocess.run([executable] + arguments)
        guard result.succeeded else {
            throw Failure(description: "\((executable as NSString).lastPathComponent) \(arguments.prefix(3).joined(separator: " ")) failed (status \(result.status)): \(result.output)")
        }
        return result.output
    }
}

/// A fresh temporary directory, removed by `remove()`.
public struct TemporaryDirectory: Sendable {
    public let path: String

    public init(_ label: String = "escalator") throws {
        path = NSTemporaryDirectory() + "\(label)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    public func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// A program left running in the background (a test server), stopped by `stop()`.
public final class BackgroundProcess: @unchecked Sendable {
    public let pid: pid_t
    public let logPath: String

    /// Starts `argv` with the current environment plus `environment` (which wins).
    public init(_ argv: [String], environment: [String: String] = [:]) throws {
        logPath = NSTemporaryDirectory() + "escalator-bg-\(UUID().uuidString.prefix(8)).log"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment { merged[key] = value }
        let cEnvironment: [UnsafeMutablePointer<CChar>?] = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { cEnvironment.forEach { free($0) } }
        var child: pid_t = 0
        let spawned = posix_spawn(&child, argv[0], &actions, nil, cArguments, cEnvironment)
        guard spawned == 0 else { throw PostgresServer.Failure(description: "cannot start \(argv[0]): \(spawned)") }
        pid = child
    }

    /// Sends SIGTERM, and SIGKILL if the process is still there after two seconds; reaps it.
    public func stop() {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        for _ in 0..<40 {
            if waitpid(pid, &status, WNOHANG) == pid { return }
            usleep(50_000)
        }
        kill(pid, SIGKILL)
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    }

    public enum Exit: Equatable, Sendable {
        case status(Int32)
        case signal(Int32)
        case stillRunning
    }

    /// Waits up to `timeout` seconds for the process to end, and reaps it.
    public func wait(timeout: TimeInterval) -> Exit {
        var status: Int32 = 0
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if waitpid(pid, &status, WNOHANG) == pid {
                let signal = status & 0x7f
                return signal == 0 ? .status((status >> 8) & 0xff) : .signal(signal)
            }
            usleep(20_000)
        }
        return .stillRunning
    }

    /// What the process wrote to standard output and error so far.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Waits until something listens on 127.0.0.1:port (up to about 10 s).
    public static func waitForPort(_ port: Int) throws {
        for _ in 0..<200 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            close(fd)
            if connected == 0 { return }
            usleep(50_000)
        }
        throw PostgresServer.Failure(description: "nothing listens on port \(port)")
    }
}
