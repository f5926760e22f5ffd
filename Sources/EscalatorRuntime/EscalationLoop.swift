import EscalatorCore
import Foundation
import HeapModule

/// The engine loop: each case's escalation state and a deadline queue, so a tick evaluates only the cases that
/// changed and those whose deadline is due, never every open case.
public struct EscalationLoop: Sendable {
    struct Entry: Comparable, Sendable {
        let due: Date
        let id: String
        static func < (a: Entry, b: Entry) -> Bool { (a.due, a.id) < (b.due, b.id) }
    }

    /// Each case's escalation state: packed when `packsStates` (the daemon holds one for every open case for weeks,
    /// see `PackedState`), on a shelf when it is given one (see `Shelf`); as it is otherwise (plan and the tests
    /// evaluate a case again and again, and a long state would be unpacked and packed each time).
    private var packed: ShelvedRecords<PackedState>
    private var plain: [String: EscalationState] = [:]
    public let packsStates: Bool
    /// Per case with an open occurrence that has a breach time, the earliest such time, among the policies counted:
    /// the daemon's breached count reads these rather than every state (which may be on a shelf).
    private var earliestBreach: [String: Date] = [:]
    /// The policies whose occurrences `earliestBreach` counts; nil counts every policy. The daemon sets the
    /// policies in force, so that a removed policy's open occurrences (kept in the states) are not counted.
    public var countedPolicies: Set<String>? {
        didSet { if countedPolicies != oldValue { recountBreaches() } }
    }
    private var queue = Heap<Entry>()
    /// The deadline in force per case; queue entries that disagree are stale and skipped.
    private var deadlines: [String: Date] = [:]
    private var changed: Set<String> = []
    /// Cases left over by a tick that hit its limit, in descending id order (the next is last), and the same as a
    /// set. Kept sorted across ticks: sorting every pending case again for each batch of a million would cost more
    /// than evaluating them.
    private var backlog: [String] = []
    private var backlogSet: Set<String> = []
    /// Cases whose state or deadline changed since the last `drainTouched()`.
    private var touched: Set<String> = []

    public init(states: [String: EscalationState] = [:], packsStates: Bool = false, shelf: Shelf? = nil) {
        self.packsStates = packsStates
        packed = ShelvedRecords(shelf: packsStates ? shelf : nil)
        for (id, state) in states { keep(state, for: id) }
    }

    /// A case's escalation state; nil when it has none (or it was released).
    public func state(of id: String) -> EscalationState? {
        packsStates ? packed[id]?.unpacked(caseID: id) : plain[id]
    }

    /// How many cases have a state in memory.
    public var stateCount: Int { packsStates ? packed.count : plain.count }

    /// Calls `body` with every state held, packed, for counts that look at all of them (a reload's; on a shelf, each
    /// is read back).
    public func forEachPackedState(_ body: (PackedState) -> Void) {
        if packsStates {
            for state in packed.records.values { body(state) }
        } else {
            for (id, state) in plain { body(PackedState(state, caseID: id)) }
        }
    }

    /// Calls `body` with the earliest breach time of each case that has an open occurrence with one, among the
    /// `countedPolicies`.
    public func forEachEarliestBreach(_ body: (Date) -> Void) {
        for date in earliestBreach.values { body(date) }
    }

    /// The earliest breach time among a state's open occurrences of the counted policies.
    private func earliestBreach(of state: EscalationState) -> Date? {
        var earliest: Date?
        for occurrence in state.occurrences where occurrence.clearedAt == nil {
            guard let breachAt = occurrence.breachAt, countedPolicies?.contains(occurrence.policy) ?? true else { continue }
            if earliest.map({ breachAt < $0 }) ?? true { earliest = breachAt }
        }
        return earliest
    }

    private mutating func recountBreaches() {
        earliestBreach = [:]
        if packsStates {
            let counted = countedPolicies.map { Set($0.map { Array($0.utf8) }) }
            for (id, state) in packed.records {
                var earliest: Date?
                state.scanOccurrences { policy, breachAt, cleared in
                    guard !cleared, let breachAt, counted?.contains(Array(policy)) ?? true else { return }
                    if earliest.map({ breachAt < $0 }) ?? true { earliest = breachAt }
                }
                earliestBreach[id] = earliest
            }
        } else {
            for (id, state) in plain { earliestBreach[id] = earliestBreach(of: state) }
        }
    }

    /// Moves the packed states onto a fresh shelf when most of the shelf's bytes are states replaced since (see
    /// `ShelvedRecords.compactIfNeeded`). Returns whether it did.
    public mutating func compactStates() throws -> Bool { try packed.compactIfNeeded() }

    /// The shelf the states are kept on, if any.
    public var stateShelf: Shelf? { packed.shelf }

    /// Marks a case as changed: it is evaluated on the next tick.
    public mutating func markChanged(_ id: String) { changed.insert(id) }

    /// Drops a case (deleted from the source).
    public mutating func forget(_ id: String) {
        if deadlines.removeValue(forKey: id) != nil { touched.insert(id) }
        changed.remove(id)
        backlogSet.remove(id)
    }

    /// Whether a case is finished with: it is closed, nothing of it is open, and it has no deadline. Its state
    /// only records the past, and a daemon may drop it from memory (`release`) and keep it in its store.
    public func isSettled(_ id: String, closedAt: Date?) -> Bool {
        guard closedAt != nil, deadlines[id] == nil, !isPending(id) else { return false }
        if packsStates { return packed[id]?.isAllCleared ?? true }
        return plain[id].map { state in state.occurrences.allSatisfy { $0.clearedAt != nil } } ?? true
    }

    /// Drops a settled case's state from memory, leaving the durable record as it is (nothing is touched).
    public mutating func release(_ id: String) {
        packed[id] = nil
        plain[id] = nil
        earliestBreach[id] = nil
    }

    /// Puts back a released case's state, read again from the store.
    public mutating func restore(_ state: EscalationState, for id: String) {
        keep(state, for: id)
    }

    /// How many entries the deadline queue holds, stale ones included.
    public var queueCount: Int { queue.count }

    /// The deadline in force for a case.
    public func deadline(of id: String) -> Date? { deadlines[id] }

    /// Replaces a case's acknowledgements and marks it changed, so the next tick applies them.
    public mutating func setAcknowledgements(_ acknowledgements: [Acknowledgement], for id: String) {
        var state = state(of: id) ?? .empty
        guard state.acknowledgements != acknowledgements else { return }
        state.acknowledgements = acknowledgements
        keep(state, for: id)
        changed.insert(id)
    }

    /// Records a case's state; an empty one is not kept.
    private mutating func keep(_ state: EscalationState, for id: String) {
        let isEmpty = state.occurrences.isEmpty && state.acknowledgements.isEmpty
        if packsStates {
            packed[id] = isEmpty ? nil : PackedState(state, caseID: id)
        } else {
            plain[id] = isEmpty ? nil : state
        }
        earliestBreach[id] = earliestBreach(of: state)
    }

    /// The cases whose escalation state or deadline changed since the last call, with both as they are now:
    /// what a durable store has to record.
    public mutating func drainTouched() -> [(id: String, state: EscalationState, deadline: Date?)] {
        // A small set keeps its room for the next cycle; the room a full read's million took is let go.
        defer { touched.count > 4_096 ? (touched = []) : touched.removeAll(keepingCapacity: true) }
        return touched.sorted().map { ($0, state(of: $0) ?? .empty, deadlines[$0]) }
    }

    /// Evaluates cases on every core when there are many (the first full read, a reload): the engine is a pure
    /// function, so the results are the same as one after another, in the same order.
    /// With `pack`, each result comes with its state packed for keeping (nil when the state is empty), packed on
    /// the same core.
    static func evaluateAll(
        _ work: [(id: String, subject: Case, before: EscalationState)], rules: Rules, now: Date, pack: Bool = false
    ) -> [(evaluation: Engine.Evaluation, packed: PackedState?)] {
        @Sendable func one(_ item: (id: String, subject: Case, before: EscalationState)) -> (evaluation: Engine.Evaluation, packed: PackedState?) {
            let evaluation = Engine.evaluate(item.subject, rules: rules, state: item.before, now: now)
            let state = evaluation.state
            let isEmpty = state.occurrences.isEmpty && state.acknowledgements.isEmpty
            return (evaluation, pack && !isEmpty ? PackedState(state, caseID: item.id) : nil)
        }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        guard work.count >= 512, cores > 1 else { return work.map(one) }
        let chunks = min(cores * 4, work.count / 128)
        // Each chunk writes only its own slots.
        nonisolated(unsafe) let results = UnsafeMutableBufferPointer<(evaluation: Engine.Evaluation, packed: PackedState?)>.allocate(capacity: work.count)
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let range = (work.count * chunk / chunks)..<(work.count * (chunk + 1) / chunks)
            for index in range { (results.baseAddress! + index).initialize(to: one(work[index])) }
        }
        let out = Array(results)
        _ = results.deinitialize()
        return out
    }

    /// The earliest deadline in the queue.
    public mutating func nextDeadline() -> Date? {
        while let top = queue.min, deadlines[top.id] != top.due { _ = queue.popMin() }
        return queue.min?.due
    }

    public var pendingChanges: Int { changed.count + backlogSet.count }

    /// How many cases the last tick evaluated (for the benchmark's idle figures).
    public private(set) var lastTickEvaluated = 0

    /// Whether a case waits to be evaluated at the next tick.
    public func isPending(_ id: String) -> Bool { changed.contains(id) || backlogSet.contains(id) }

    /// Whether a tick at `now` has cases to evaluate: changed ones, or deadlines that are due.
    public func hasWork(at now: Date) -> Bool {
        !changed.isEmpty || !backlogSet.isEmpty || queue.min.map { $0.due <= now } == true
    }

    /// Evaluates the changed cases and those due at `now`, at most `limit` of them (in id order; the others stay
    /// pending for the next call, see `hasWork`). `caseFor` gives a case as it stands at `now` (nil if it is gone).
    /// Returns the notices, each with the case and state it was decided on.
    ///
    /// A limit bounds what one call holds: the first tick after a full read may decide several notices for every
    /// open case, and the daemon renders and commits them a batch at a time.
    public mutating func tick(
        at now: Date, rules: Rules, limit: Int = .max, caseFor: (String) -> Case?
    ) -> [(notice: Notice, subject: Case, state: EscalationState)] {
        // Taken whole, not copied and cleared: after a full read the set has room for every case, and clearing
        // it in place would allocate that room again at every tick.
        var due: Set<String> = []
        swap(&due, &changed)
        while let top = queue.min, top.due <= now {
            _ = queue.popMin()
            if deadlines[top.id] == top.due {
                deadlines[top.id] = nil
                due.insert(top.id)
            }
        }
        var order: [String]
        if backlogSet.isEmpty && due.count <= limit {
            order = due.sorted()
        } else {
            // Add what is newly due to the backlog (sorted descending), then take the lowest ids from its end. Within
            // one daemon cycle only the first call adds anything; the later ones just take.
            if backlogSet.isEmpty {
                // The first call after a full read: the due set becomes the backlog as it is, not copied. The states
                // and deadlines, which nearly every evaluated case enters, get their room now: grown by doubling as
                // the batches fill them, each would hold its old and its new storage at once, a peak on top of the
                // peak. (Room for the larger of what they hold and what is due: a resync that changed a few
                // cases does not double a table.)
                let room = max(deadlines.count, due.count)
                if packsStates { packed.reserveCapacity(room) } else { plain.reserveCapacity(room) }
                deadlines.reserveCapacity(room)
                backlog = Array(due)
                backlog.sort(by: >)
                swap(&backlogSet, &due)
            } else {
                let fresh = due.subtracting(backlogSet)
                if !fresh.isEmpty {
                    backlog = (backlog.filter { backlogSet.contains($0) } + fresh).sorted(by: >)
                    backlogSet.formUnion(fresh)
                }
            }
            order = []
            order.reserveCapacity(min(limit, backlogSet.count))
            while order.count < limit, let id = backlog.popLast() {
                // Forgotten cases are dropped from the set only; skip them here.
                if backlogSet.remove(id) != nil { order.append(id) }
            }
            // The room a million pending cases took is let go with the last of them.
            if backlogSet.isEmpty {
                backlog = []
                backlogSet = []
            }
        }
        var out: [(notice: Notice, subject: Case, state: EscalationState)] = []
        var work: [(id: String, subject: Case, before: EscalationState)] = []
        work.reserveCapacity(order.count)
        for id in order {
            guard let subject = caseFor(id) else {
                forget(id)
                continue
            }
            work.append((id, subject, state(of: id) ?? .empty))
        }
        let results = Self.evaluateAll(work, rules: rules, now: now, pack: packsStates)
        lastTickEvaluated = work.count
        for ((id, subject, before), (result, packedState)) in zip(work, results) {
            if packsStates {
                packed[id] = packedState
                earliestBreach[id] = earliestBreach(of: result.state)
            } else {
                keep(result.state, for: id)
            }
            if result.state != before || result.nextDeadline != deadlines[id] { touched.insert(id) }
            if let next = result.nextDeadline {
                if deadlines[id] != next { queue.insert(Entry(due: next, id: id)) }
                deadlines[id] = next
            } else {
                deadlines[id] = nil
            }
            out += result.notices.map { ($0, subject, result.state) }
        }
        // A case re-evaluated with a new deadline leaves its old entry behind until that one comes due; a case
        // that changes often with a deadline far off would pile them up. Rebuild when most entries are stale.
        if queue.count > 1024 && queue.count > 2 * deadlines.count {
            queue = Heap(deadlines.map { Entry(due: $0.value, id: $0.key) })
        }
        // In place: sorting a copy would retain every notice, case and state once more.
        out.sort { ($0.notice.dueAt, $0.notice.id) < ($1.notice.dueAt, $1.notice.id) }
        return out
    }
}
