import Foundation

/// Whether the source is reachable, and how long to wait before trying again. A pure state machine: the caller
/// passes the time, so outages are tested with a virtual clock.
///
/// An outage is reported once when it starts and once when it ends, never on every failed attempt. Retries back
/// off exponentially from `base` up to `cap`.
public struct SourceHealth: Sendable, Equatable {
    public enum Event: Sendable, Equatable {
        /// The first failure after a success.
        case down(since: Date, error: String)
        /// The first success after an outage.
        case up(after: TimeInterval, failedAttempts: Int)
    }

    public private(set) var downSince: Date?
    public private(set) var failedAttempts = 0
    public private(set) var lastError: String?
    public let base: TimeInterval
    public let cap: TimeInterval

    public init(base: TimeInterval = 1, cap: TimeInterval = 300) {
        self.base = base
        self.cap = cap
    }

    public var isDegraded: Bool { downSince != nil }

    /// Records a failed read; returns the event to log (only for the first failure) and the delay before the next try.
    public mutating func failed(_ error: String, at now: Date) -> (event: Event?, retryAfter: TimeInterval) {
        failedAttempts += 1
        lastError = error
        var event: Event?
        if downSince == nil {
            downSince = now
            event = .down(since: now, error: error)
        }
        let delay = min(cap, base * pow(2, Double(min(failedAttempts - 1, 30))))
        return (event, delay)
    }

    /// Records a successful read; returns the event to log if this ends an outage.
    public mutating func succeeded(at now: Date) -> Event? {
        defer {
            downSince = nil
            failedAttempts = 0
            lastError = nil
        }
        guard let since = downSince else { return nil }
        return .up(after: now.timeIntervalSince(since), failedAttempts: failedAttempts)
    }
}
