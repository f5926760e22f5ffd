import EscalatorConfig
import EscalatorCore
import Foundation
import Logging

/// Where the daemon keeps its escalation state and outbox: `StateStore` (SQLite, one daemon per host) or
/// `PostgresStateStore` (shared by active/standby instances). The daemon, the outbox and the tools use this.
public protocol EscalationStore: Sendable {
    /// Where the store is, for messages: a file path, or `postgres://host:port/db (cluster c)`.
    var location: String { get }

    /// The recorded occurrences of the first `limit` cases (that have any) with ids after `after` (from the first
    /// when nil), in case id order, each case's in the order `state(caseID:)` gives: the daemon reads its states a
    /// page at a time, so a million of them are never held as structs at once.
    func occurrences(after: String?, limit: Int) async throws -> [(caseID: String, occurrences: [EscalationState.Occurrence])]
    /// The acknowledgements not revoked, in the order they were made.
    func acknowledgementsInForce() async throws -> [(caseID: String, acknowledgement: Acknowledgement)]
    func state(caseID: String) async throws -> EscalationState?
    /// Records a tick in one transaction; a notice already queued (same id) is not queued again. Returns how many
    /// notices were queued.
    @discardableResult func commit(_ commit: StateStore.Commit, at now: Date) async throws -> Int

    func pendingOutbox(limit: Int) async throws -> [StateStore.OutboxItem]
    func markDelivered(journal: [Int64], email: [Int64], failed: [(seq: Int64, error: String)], at now: Date) async throws
    func outboxDepth() async throws -> Int
    @discardableResult func pruneDelivered(olderThan cutoff: Date) async throws -> Int
    func queuedNoticeIDs() async throws -> [String]

    @discardableResult func acknowledge(caseID: String, _ acknowledgement: Acknowledgement) async throws -> StateStore.AckRecord
    func revoke(caseID: String, policy: String?, by: String, at now: Date) async throws -> [StateStore.AckRecord]
    func acknowledgementChanges(after version: Int64) async throws -> (changed: [StateStore.AckRecord], version: Int64)
    func acknowledgements(caseID: String) async throws -> [Acknowledgement]
    func acknowledgementVersion() async throws -> Int64

    func openOccurrences(now: Date) async throws -> [StateStore.PolicyCount]
    func nextDeadlines(limit: Int) async throws -> [(caseID: String, due: Date)]
    func failingOutbox(limit: Int) async throws -> [(noticeID: String, attempts: Int, error: String)]
    func meta() async throws -> [String: String]

    /// Lets go of connections (and, for a shared store, of the active lock).
    func close() async
}

extension EscalationStore {
    /// Calls `body` with every recorded escalation state (its occurrences and the acknowledgements not revoked), a
    /// page of `pageSize` cases at a time: those with occurrences in case id order, then those with only
    /// acknowledgements.
    public func forEachState(pageSize: Int = 5_000, _ body: (String, EscalationState) throws -> Void) async throws {
        var acknowledgements: [String: [Acknowledgement]] = [:]
        for (caseID, acknowledgement) in try await acknowledgementsInForce() { acknowledgements[caseID, default: []].append(acknowledgement) }
        var after: String?
        while true {
            let page = try await occurrences(after: after, limit: pageSize)
            for (caseID, occurrences) in page {
                try body(caseID, EscalationState(occurrences: occurrences, acknowledgements: acknowledgements.removeValue(forKey: caseID) ?? []))
            }
            guard page.count == pageSize, let last = page.last else { break }
            after = last.caseID
        }
        for (caseID, only) in acknowledgements.sorted(by: { $0.key < $1.key }) { try body(caseID, EscalationState(occurrences: [], acknowledgements: only)) }
    }

    /// Every case's escalation state, as structs (for the tools and tests; the daemon reads them with `forEachState`).
    public func loadStates() async throws -> [String: EscalationState] {
        var states: [String: EscalationState] = [:]
        try await forEachState { states[$0] = $1 }
        return states
    }
}

extension StateStore: EscalationStore {
    public var location: String { path }
    public func close() async {}
}

/// Opens the store a configuration names.
public enum EscalationStores {
    /// What a tool does with the store. Neither creates a store that is not there yet: that is `escalator run`'s.
    public enum Access: Sendable {
        /// `status`, `plan`, `explain`.
        case read
        /// `ack`, `unack`: writes acknowledgements.
        case write
    }

    /// For the tools: no lock is taken.
    public static func open(
        _ settings: StateSettings, for access: Access, environment: [String: String] = ProcessInfo.processInfo.environment,
        logger: Logger = Logger(label: "escalator.state")
    ) async throws -> any EscalationStore {
        switch settings.driver {
        case .sqlite:
            let directory = settings.resolvedDirectory(environment: environment)
            if access == .write, !FileManager.default.fileExists(atPath: "\(directory)/\(StateStore.fileName)") {
                throw StateError("no state store in \(directory): start `escalator run` once first")
            }
            return try StateStore(directory: directory, readOnly: access == .read)
        case .postgres:
            let store = try PostgresStateStore(settings: settings, role: .tool, environment: environment, logger: logger)
            do {
                try await store.prepare(create: false)
            } catch {
                await store.close()
                throw error
            }
            return store
        }
    }
}
