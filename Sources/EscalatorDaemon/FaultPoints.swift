import Foundation

/// Named instants at which a test can have the daemon SIGKILL itself, to prove that a crash there loses and
/// duplicates nothing. Armed only by `ESCALATOR_TEST_KILL_AT=after-commit,after-spool` in the environment; an
/// operator never sets it, and without it `reach` does nothing.
public struct FaultPoints: Sendable {
    public enum Point: String, Sendable, CaseIterable {
        /// The tick's steps and notices are committed; nothing is delivered yet.
        case afterCommit = "after-commit"
        /// Emails are in the spool; the outbox does not yet say so.
        case afterSpool = "after-spool"
    }

    public static let variable = "ESCALATOR_TEST_KILL_AT"
    let armed: Set<Point>

    public init(environment: [String: String] = [:]) {
        armed = Set((environment[Self.variable] ?? "").split(separator: ",").compactMap { Point(rawValue: String($0)) })
    }

    func reach(_ point: Point) {
        guard armed.contains(point) else { return }
        kill(getpid(), SIGKILL)
    }
}

/// The daemon's idea of now: the wall clock, except under `ESCALATOR_TEST_CLOCK=VIRTUAL@REAL*SPEED` (epoch seconds
/// and a factor), which tests set to run a virtual day in minutes. Virtual time is VIRTUAL + (wall − REAL) × SPEED,
/// so every process started with the same value shares one virtual timeline across kills and restarts. Like the
/// kill points it is for tests only; an operator never sets it.
public struct DaemonClock: Sendable {
    public static let variable = "ESCALATOR_TEST_CLOCK"
    let virtualOrigin: TimeInterval?
    let realOrigin: TimeInterval
    let speed: Double

    public init(environment: [String: String] = [:]) {
        let parts = (environment[Self.variable] ?? "").split(whereSeparator: { $0 == "@" || $0 == "*" }).compactMap { Double($0) }
        if parts.count == 3, parts[2] > 0 {
            (virtualOrigin, realOrigin, speed) = (parts[0], parts[1], parts[2])
        } else {
            (virtualOrigin, realOrigin, speed) = (nil, 0, 1)
        }
    }

    public static func value(virtual: Date, real: Date, speed: Double) -> String {
        "\(virtual.timeIntervalSince1970)@\(real.timeIntervalSince1970)*\(speed)"
    }

    public func now() -> Date {
        let wall = Date().timeIntervalSince1970
        guard let virtualOrigin else { return Date(timeIntervalSince1970: wall) }
        return Date(timeIntervalSince1970: virtualOrigin + (wall - realOrigin) * speed)
    }

    /// The wall-clock wait that lets `seconds` of this clock pass.
    public func wait(_ seconds: TimeInterval) -> Duration {
        .milliseconds(Int64(max(0, seconds / speed) * 1000))
    }
}
