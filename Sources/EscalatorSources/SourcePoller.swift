import EscalatorConfig
import EscalatorCore
import Foundation

/// Polls a source on the daemon's behalf: incremental reads between periodic full resyncs, duplicate rows dropped,
/// row problems reported once per case, and outages turned into one down and one up event.
public actor SourcePoller {
    /// What one poll produced.
    public struct Outcome: Sendable {
        /// Cases that are new or changed since the last poll.
        public var changed: [Case] = []
        /// The same, packed: what a full read of a poller that `packsCases` found (its incremental reads fill
        /// `changed`).
        public var changedPacked: [PackedCase] = []
        /// A full read onto a shelf: the cases it read that had not changed, packed again onto the new shelf. A holder
        /// replaces its copies with these (and keeps later cases on `shelf`), so the previous shelf's file goes.
        public var keptPacked: [PackedCase] = []
        /// The shelf a full read packed its cases onto (`scratch`); nil when it packed them in memory.
        public var shelf: Shelf?
        /// Why a full read could not make a shelf and packed in memory instead.
        public var scratchProblem: String?
        /// Cases that a full resync no longer found (deleted, or filtered out by the query).
        public var removed: [String] = []
        /// Problems not reported before.
        public var problems: [SourceProblem] = []
        public var healthEvent: SourceHealth.Event?
        public var wasFullResync = false
        public var failed = false
        /// How many rows the database returned.
        public var rowsRead = 0
        /// When to poll next.
        public var nextPoll: Date = .distantPast
    }

    private let source: any CaseSource
    private let pollEvery: TimeInterval
    private let fullResyncEvery: TimeInterval
    public private(set) var health: SourceHealth
    public private(set) var cursor = SourceCursor()
    private var lastFullResync: Date?
    /// A fingerprint of each known case, to drop rows that the overlap reads again unchanged.
    private var fingerprints: [String: Int] = [:]
    private var reported: Set<String> = []
    private static let reportedLimit = 200_000

    /// Full reads pack their cases as they read (`CaseSource.readAll(asOf:packing:)`), for a daemon that holds
    /// them packed: a full read then never holds the whole database as structs.
    private let packsCases: Bool
    /// The directory where each full read of a packing poller makes a fresh shelf for its cases; nil packs them in
    /// memory.
    private let scratch: String?

    public init(
        source: any CaseSource, settings: SourceSettings, health: SourceHealth = SourceHealth(), packsCases: Bool = false,
        scratch: String? = nil
    ) {
        self.source = source
        self.packsCases = packsCases
        self.scratch = scratch
        self.pollEvery = TimeInterval(settings.pollEvery.fixedSeconds ?? 60)
        self.fullResyncEvery = TimeInterval(settings.fullResyncEvery.fixedSeconds ?? 3600)
        self.health = health
    }

    public var knownCaseCount: Int { fingerprints.count }

    /// Reads what changed (or everything, when a full resync is due) at `now`. `asOf` gives as-of reads.
    public func poll(now: Date, asOf: Date? = nil) async -> Outcome {
        var outcome = Outcome()
        let full = lastFullResync.map { now.timeIntervalSince($0) >= fullResyncEvery } ?? true
        var batch: SourceBatch
        var packing = CasePacking.none
        if full && packsCases {
            packing = .memory
            if let scratch {
                do {
                    let shelf = try Shelf(directory: scratch)
                    packing = .shelf(shelf)
                    outcome.shelf = shelf
                } catch {
                    outcome.scratchProblem = "\(error)"
                }
            }
        }
        do {
            // The clock is read first: whatever was stamped an overlap before it is committed and visible to the read.
            let clock = asOf == nil ? try await source.clock(now: now) : nil
            batch = full ? try await source.readAll(asOf: asOf, packing: packing) : try await source.readChanged(since: cursor, asOf: asOf)
            batch.cursor.clock = clock
        } catch {
            let (event, delay) = health.failed("\(error)", at: now)
            outcome.shelf = nil
            outcome.healthEvent = event
            outcome.failed = true
            outcome.nextPoll = now.addingTimeInterval(delay)
            return outcome
        }
        outcome.healthEvent = health.succeeded(at: now)
        outcome.wasFullResync = full
        outcome.rowsRead = batch.rowsRead
        if full { lastFullResync = now }
        cursor = cursor.advanced(to: batch.cursor)

        // The ids seen matter only to a complete read (to find the cases gone). The tables grow as they fill: given
        // their room at once, a full read of a million cases reached a higher peak (docs/benchmarks.md).
        var seen: Set<String> = []
        for subject in batch.cases {
            if batch.isComplete { seen.insert(subject.id) }
            let print = subject.hashValue
            if fingerprints.updateValue(print, forKey: subject.id) != print { outcome.changed.append(subject) }
        }
        for (subject, print) in batch.packed {
            if batch.isComplete { seen.insert(subject.id) }
            if fingerprints.updateValue(print, forKey: subject.id) != print {
                outcome.changedPacked.append(subject)
            } else if outcome.shelf != nil {
                outcome.keptPacked.append(subject)
            }
        }
        if batch.isComplete {
            outcome.removed = fingerprints.keys.filter { !seen.contains($0) }.sorted()
            for id in outcome.removed { fingerprints[id] = nil }
        }
        if reported.count > Self.reportedLimit { reported.removeAll() }
        for problem in batch.problems where reported.insert(problem.description).inserted {
            outcome.problems.append(problem)
        }
        outcome.nextPoll = now.addingTimeInterval(pollEvery)
        return outcome
    }
}
