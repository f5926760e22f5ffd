import EscalatorOutputs
import Foundation

/// A real systemd 252 booted as PID 1 of private namespaces by `Tests/Harness/sandbox.sh` (root only). Units
/// are installed under `root + "/etc/systemd/system"`; /etc and /var there are private overlays.
public final class SystemdSandbox: @unchecked Sendable {
    public let pid: String
    public let work: String
    let script: String

    /// The sandbox's view of the filesystem, as seen from the host.
    public var root: String { "/proc/\(pid)/root" }

    public init(repositoryRoot: String) throws {
        script = "\(repositoryRoot)/Tests/Harness/sandbox.sh"
        guard getuid() == 0 else { throw PostgresServer.Failure(description: "the systemd sandbox needs root (CI runs as root)") }
        let started = try Subprocess.run(["/bin/bash", script, "start"])
        let parts = started.output.split(whereSeparator: \.isWhitespace).map(String.init)
        guard started.succeeded, parts.count >= 2 else {
            throw PostgresServer.Failure(description: "the systemd sandbox did not start:\n\(started.output)")
        }
        pid = parts[parts.count - 2]
        work = parts[parts.count - 1]
    }

    /// Runs a command inside the sandbox; output is standard output and error together.
    @discardableResult
    public func run(_ argv: [String]) throws -> Subprocess.Result {
        try Subprocess.run(["/bin/bash", script, "exec", pid] + argv)
    }

    /// `systemctl show -p NAME` values.
    public func show(_ unit: String, _ properties: [String]) throws -> [String: String] {
        let output = try run(["systemctl", "show", unit] + properties.flatMap { ["-p", $0] }).output
        var values: [String: String] = [:]
        for line in output.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return values
    }

    /// The unit's journal entries as JSON objects.
    public func journal(_ unit: String) throws -> [[String: Any]] {
        let output = try run(["journalctl", "-u", unit, "-o", "json", "--no-pager"]).output
        return output.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }

    /// Waits up to `timeout` seconds for `condition`.
    public func wait(timeout: TimeInterval, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            if try condition() { return true }
            usleep(100_000)
        } while Date() < deadline
        return false
    }

    public func stop() {
        _ = try? Subprocess.run(["/bin/bash", script, "stop", pid, work])
    }
}
