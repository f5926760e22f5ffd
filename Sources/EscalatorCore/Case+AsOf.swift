import Foundation

extension Case {
    /// The case as it stood at `now`: nil if it was not opened yet; otherwise only the activity up to `now`, and
    /// the row's status, owner and closing as the history says they were then.
    ///
    /// Sources apply this for as-of reads, so `simulate` and the demo see history exactly as the daemon would have
    /// seen it live. Before the first status change the status is unknown (nil); before the first assignment the
    /// owner is the row's.
    public func asOf(_ now: Date) -> Case? {
        guard openedAt <= now else { return nil }
        var copy = self
        // Copied only when something lies ahead (simulate asks at every evaluation).
        if hasActivity(after: now) {
            let past = activity.filter { $0.at <= now }
            copy.activity = past
            if activity.contains(where: { $0.kind == .statusChange }) {
                copy.status = past.last { $0.kind == .statusChange }?.status
            }
            if let assignment = past.last(where: { $0.kind == .assignment }) { copy.owner = assignment.person }
        }
        if let closedAt, closedAt > now { copy.closedAt = nil }
        return copy
    }

    /// Whether any activity is dated after `now`, read in place (no row is copied to look at its time).
    public func hasActivity(after now: Date) -> Bool {
        for index in activity.indices where activity[index].at > now { return true }
        return false
    }
}
