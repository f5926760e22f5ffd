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
