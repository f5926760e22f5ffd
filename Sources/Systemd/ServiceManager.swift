import CSystemd
import Foundation

/// The sd_notify protocol, through libsystemd: readiness, status, watchdog pings, reload and stop.
///
/// Outside systemd (`$NOTIFY_SOCKET` unset) every call is a no-op that returns false.
public struct ServiceManager: Sendable {
    public init() {}

    /// Sends one notification of `KEY=value` lines. Returns true if it was delivered.
    @discardableResult
    public func notify(_ assignments: [String]) -> Bool {
        let text = assignments.map { $0.replacingOccurrences(of: "\n", with: " ") }.joined(separator: "\n")
        return sd_notify(0, text) > 0
    }

    @discardableResult
    public func ready(status: String) -> Bool { notify(["READY=1", "STATUS=\(status)"]) }

    @discardableResult
    public func status(_ line: String) -> Bool { notify(["STATUS=\(line)"]) }

    @discardableResult
    public func watchdog() -> Bool { notify(["WATCHDOG=1"]) }

    /// `RELOADING=1` with the `MONOTONIC_USEC=` that systemd 253+ requires and older versions ignore.
    @discardableResult
    public func reloading(status: String) -> Bool {
        notify(["RELOADING=1", "STATUS=\(status)", "MONOTONIC_USEC=\(Self.monotonicMicroseconds())"])
    }

    @discardableResult
    public func stopping(status: String) -> Bool { notify(["STOPPING=1", "STATUS=\(status)"]) }

    /// The watchdog interval systemd expects pings within (`$WATCHDOG_USEC` for this process), if any.
    public func watchdogInterval() -> Duration? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return .microseconds(Int64(clamping: usec))
    }

    /// CLOCK_MONOTONIC in microseconds.
    public static func monotonicMicroseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000 + UInt64(spec.tv_nsec) / 1000
    }
}
