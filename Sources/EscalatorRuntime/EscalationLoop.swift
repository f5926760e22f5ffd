import EscalatorCore
import Foundation
import HeapModule

/// A case as a tick is handed it: as it is, or packed (`PackedCase`, unpacked on the evaluating core, read from its
/// scratch file there when it is on one).
public protocol CaseRecord: Sendable {
    func unpacked() -> Case
}

extension Case: CaseRecord {
    /// A case held as it is: itself.
    public func unpacked() -> Case { self }
}

extension PackedCase: CaseRecord {}

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
    /// With packed states: the states a tick left, as structs, for `drainTouched()` to hand over without reading
    /// and unpacking them again. Bounded, so that a loop nobody drains does not come to hold every state twice;
    /// past the bound, `drainTouched()` unpacks.
    private var touchedStates: [String: EscalationState] = [:]
    /// How many `touchedStates` are kept at most (set lower by tests).
    var touchedStatesKept = 16_384

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

    /// The earliest breach time among a state's open occurrences of the `counted` policies (nil: every policy).
    static func earliestBreach(of state: EscalationState, counted: Set<String>?) -> Date? {
        var earliest: Date?
        for occurrence in state.occurrences where occurrence.clearedAt == nil {
            guard let breachAt = occurrence.breachAt, counted?.contains(occurrence.policy) ?? true else { continue }
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
            for (id, state) in plain { earliestBreach[id] = Self.earliestBreach(of: state, counted: countedPolicies) }
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
        touchedStates[id] = nil
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
        if packsStates {
            packed[id] = state.isEmpty ? nil : PackedState(state, caseID: id)
        } else {
            plain[id] = state.isEmpty ? nil : state
        }
        earliestBreach[id] = Self.earliestBreach(of: state, counted: countedPolicies)
        touchedStates[id] = nil
    }

    /// The cases whose escalation state or deadline changed since the last call, with both as they are now:
    /// what a durable store has to record.
    public mutating func drainTouched() -> [(id: String, state: EscalationState, deadline: Date?)] {
        // A small set keeps its room for the next cycle; the room a full read's million took is let go.
        defer {
            touched.count > 4_096 ? (touched = []) : touched.removeAll(keepingCapacity: true)
            touchedStates = [:]
        }
        return touched.sorted().map { ($0, touchedStates[$0] ?? state(of: $0) ?? .empty, deadlines[$0]) }
    }

    /// A case to evaluate, as the tick was handed it, with its state as the loop keeps it. Both are unpacked on the
    /// evaluating core.
    struct Job<Record: CaseRecord>: Sendable {
        let id: String
        let record: Record
        let packedBefore: PackedState?
        let plainBefore: EscalationState?
    }

    /// What evaluating one job gives: the engine's result, the case it was decided on, the state packed for
    /// keeping (when states are packed; nil when the state is empty), whether the state differs from the one
    /// before, and the state's earliest open breach among `counted`.
    struct Outcome: Sendable {
        let evaluation: Engine.Evaluation
        let subject: Case
        let packed: PackedState?
        let stateChanged: Bool
        let earliestBreach: Date?
    }

    /// Evaluates cases on every core when there are many (the first full read, a reload): the engine is a pure
    /// function, so the results are the same as one after another, in the same order. All of a case's work is done
    /// on the evaluating core: reading the case and its state (from their scratch files, when there), unpacking,
    /// evaluating, comparing and packing the new state. What is left to the caller is keeping the results.
    /// With `pack`, states are packed for keeping, and put on `shelf` when there is one.
    static func evaluateAll<Record: CaseRecord>(
        _ work: [Job<Record>], rules: Rules, now: Date, pack: Bool, shelf: Shelf? = nil, counted: Set<String>?
    ) -> [Outcome] {
        // Each run of cases on one core keeps its recipients between cases (per owner, kind and party columns).
        @Sendable func one(_ job: Job<Record>, _ rules: Rules, _ memo: RecipientMemo) -> Outcome {
            let subject = job.record.unpacked()
            let before = job.packedBefore?.unpacked(caseID: job.id) ?? job.plainBefore ?? .empty
            let evaluation = Engine.evaluate(subject, rules: rules, state: before, now: now, memo: memo)
            let state = evaluation.state
            var packed: PackedState?
            if pack && !state.isEmpty {
                let inMemory = PackedState(state, caseID: job.id)
                packed = shelf.map { inMemory.shelved(on: $0) } ?? inMemory
            }
            return Outcome(
                evaluation: evaluation, subject: subject, packed: packed,
                stateChanged: state != before, earliestBreach: EscalationLoop.earliestBreach(of: state, counted: counted))
        }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        guard work.count >= 512, cores > 1 else {
            let memo = RecipientMemo()
            return work.map { one($0, rules, memo) }
        }
        return rules.concurrentMap(count: work.count, chunks: min(cores * 4, work.count / 128), context: { RecipientMemo() }) {
            index, rules, memo in one(work[index], rules, memo)
        }
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
    public mutating func tick<Record: CaseRecord>(
        at now: Date, rules: Rules, limit: Int = .max, caseFor: (String) -> Record?
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
        var work: [Job<Record>] = []
        work.reserveCapacity(order.count)
        for id in order {
            guard let record = caseFor(id) else {
                forget(id)
                continue
            }
            work.append(Job(id: id, record: record, packedBefore: packsStates ? packed[id] : nil, plainBefore: packsStates ? nil : plain[id]))
        }
        let results = Self.evaluateAll(work, rules: rules, now: now, pack: packsStates, shelf: packed.shelf, counted: countedPolicies)
        lastTickEvaluated = work.count
        var noticeCount = 0
        for index in work.indices {
            let id = work[index].id
            let result = results[index]
            let state = result.evaluation.state
            if packsStates {
                packed[id] = result.packed
            } else {
                plain[id] = state.isEmpty ? nil : state
            }
            earliestBreach[id] = result.earliestBreach
            // One lookup in the table of deadlines, not three: at a million cases it outgrows the caches.
            let next = result.evaluation.nextDeadline
            let previous = next.map { deadlines.updateValue($0, forKey: id) } ?? deadlines.removeValue(forKey: id)
            if result.stateChanged || next != previous {
                touched.insert(id)
                // Kept while there is room, and always replaced when kept already (a case evaluated again before a
                // drain must not be handed over as it was the first time).
                if packsStates && (touchedStates.count < touchedStatesKept || touchedStates[id] != nil) { touchedStates[id] = state }
            }
            if let next, next != previous { queue.insert(Entry(due: next, id: id)) }
            noticeCount += result.evaluation.notices.count
        }
        work = []
        // In (due time, id) order across cases. Sorted as positions, so that each notice, with its case and state,
        // is moved once rather than at every step of the sort; the ids are looked at only between equal times.
        var positions: [(due: Date, result: Int32, notice: Int32)] = []
        positions.reserveCapacity(noticeCount)
        for resultIndex in results.indices {
            for noticeIndex in results[resultIndex].evaluation.notices.indices {
                positions.append((results[resultIndex].evaluation.notices[noticeIndex].dueAt, Int32(resultIndex), Int32(noticeIndex)))
            }
        }
        positions.sort { a, b in
            if a.due != b.due { return a.due < b.due }
            return results[Int(a.result)].evaluation.notices[Int(a.notice)].id < results[Int(b.result)].evaluation.notices[Int(b.notice)].id
        }
        var out: [(notice: Notice, subject: Case, state: EscalationState)] = []
        out.reserveCapacity(noticeCount)
        for at in positions {
            let result = results[Int(at.result)]
            out.append((result.evaluation.notices[Int(at.notice)], result.subject, result.evaluation.state))
        }
        // A case re-evaluated with a new deadline leaves its old entry behind until that one comes due; a case
        // that changes often with a deadline far off would pile them up. Rebuild when most entries are stale.
        if queue.count > 1024 && queue.count > 2 * deadlines.count {
            queue = Heap(deadlines.map { Entry(due: $0.value, id: $0.key) })
        }
        return out
    }
}
