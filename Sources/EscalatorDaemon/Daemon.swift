import EscalatorConfig
import EscalatorCore
import EscalatorOutputs
import EscalatorRuntime
import EscalatorSources
import EscalatorState
import Foundation
import Logging

/// The daemon's state and one scheduler cycle: poll what changed, apply acknowledgements, evaluate the changed and
/// due cases, and record the steps taken together with their notices in one state-store transaction.
///
/// Every method takes `now`, so tests drive the daemon on a virtual clock. Delivery of the queued notices is the
/// `OutboxDelivery`'s job.
public actor Daemon {
    public private(set) var configuration: Configuration
    /// Counts configurations in force since start: 1, then +1 per successful reload.
    public private(set) var generation = 1
    let store: any EscalationStore
    let events: EventWriter
    let logger: Logger
    private var loop: EscalationLoop
    /// The cases read, packed (`PackedCase`): a daemon holds every open case for as long as it runs, so their bytes
    /// are on a shelf (a scratch file in `scratch`, see `Shelf`) and memory holds where each lies.
    private var cases = ShelvedRecords<PackedCase>(shelf: nil)
    /// Where the shelves of cases and states are made: the state directory.
    private let scratch: String
    /// Per kind of record whose shelf the disk refused, how much was held in memory when it was last reported: a
    /// full disk is reported when it first refuses and again per 64 MB more held, not at every cycle or full read.
    private var shelfFailuresReported: [String: Int] = [:]
    /// Why the last full read could not make a scratch file, once reported (every full read would say it again).
    private var scratchProblemReported: String?
    private var openCases = 0
    private var rules: Rules
    private var source: (any CaseSource)?
    private var poller: SourcePoller?
    private var nextPoll = Date.distantPast
    private var lastPoll: Date?
    private var ackVersion: Int64 = 0
    private var mailer: NoticeMailer?
    private var mailProblem: String?
    /// The breached count of the status line as of `from`, and, sorted, the instants at which the other cases with
    /// an open occurrence breach: recounted only when a state or the rules change.
    private var breachedCount: (count: Int, from: Date, later: [Date])?
    /// When the meta row (status, last tick) was last written: an idle cycle writes it at most every 10 seconds.
    private var metaWritten: Date?
    private var lastStatus = ""
    /// Closed cases dropped from memory once settled (`EscalationLoop.isSettled`); their state is in the store, and
    /// is read back if the case changes again (reopened, or new activity).
    private var released: Set<String> = []
    private let faults: FaultPoints
    /// Reads the source as it stood at each cycle's `now` (as-of reads): for replaying history on a virtual clock.
    private let replay: Bool

    /// Cases evaluated, rendered and committed together in one cycle.
    public static let batchSize = 2_000

    /// What a cycle did.
    public struct CycleReport: Sendable {
        public var polled = false
        public var changedCases = 0
        /// The poll was a full read.
        public var wasFullResync = false
        /// Rows the poll read from the order database.
        public var rowsRead = 0
        public var queued = 0
        /// Cases the engine evaluated (changed or due).
        public var evaluated = 0
        public var notices: [String] = []
        /// The status line after the cycle.
        public var status = ""
        /// When the next cycle is needed.
        public var nextWake: Date = .distantFuture
    }

    /// `scratch` is where the shelves of cases and states go (the state directory when nil); a directory where no
    /// file can be made leaves them in memory, with a warning.
    public init(
        configuration: Configuration, store: any EscalationStore, events: EventWriter, logger: Logger, faults: FaultPoints = FaultPoints(),
        replay: Bool = false, scratch: String? = nil
    ) async throws {
        guard let settings = configuration.source else { throw Daemon.noSource(configuration) }
        self.configuration = configuration
        self.store = store
        self.events = events
        self.logger = logger
        self.faults = faults
        self.replay = replay
        self.rules = configuration.rules
        let scratch = scratch ?? configuration.state.resolvedDirectory()
        self.scratch = scratch
        var stateShelf: Shelf?
        do {
            stateShelf = try Shelf(directory: scratch)
        } catch {
            logger.warning("escalation states are held in memory: \(error)")
        }
        // Read a page at a time and packed as they come: at a million cases, the states as structs would take gigabytes.
        var loop = EscalationLoop(packsStates: true, shelf: stateShelf)
        loop.countedPolicies = Set(configuration.rules.policies.map(\.name))
        try await store.forEachState { loop.restore($1, for: $0) }
        self.loop = loop
        self.ackVersion = try await store.acknowledgementVersion()
        let source = try CaseSources.open(settings)
        self.source = source
        self.poller = SourcePoller(source: source, settings: settings, packsCases: true, scratch: scratch)
        try self.mailer = Self.makeMailer(configuration)
    }

    /// The configuration names no order database.
    public struct NoSource: Error, CustomStringConvertible {
        public let description: String
    }

    static func noSource(_ configuration: Configuration) -> NoSource {
        NoSource(description: "\(configuration.files.first ?? configuration.directory): the source section is missing: the daemon needs an order database to poll (docs/sources.md)")
    }

    static func makeMailer(_ configuration: Configuration) throws -> NoticeMailer? {
        guard let settings = configuration.mail else { return nil }
        let (renderer, problems) = NoticeRenderer.load(for: configuration)
        guard let renderer else { throw StateError(problems.map(\.description).joined(separator: "\n")) }
        return NoticeMailer(settings: settings, renderer: renderer)
    }

    /// How notices are delivered under the configuration in force.
    public var delivery: OutboxDelivery {
        OutboxDelivery(store: store, events: events, spool: mailer.map { MailSpool(root: $0.settings.spool) }, faults: faults)
    }

    public var sourceHealth: SourceHealth? {
        get async { await poller?.health }
    }

    // MARK: - The cycle

    /// One scheduler cycle at `now`.
    public func cycle(now: Date) async throws -> CycleReport {
        var report = CycleReport()
        var evaluated: [String] = []
        if now >= nextPoll, let poller {
            report.polled = true
            let outcome = await poller.poll(now: now, asOf: replay ? now : nil)
            report.rowsRead = outcome.rowsRead
            lastPoll = now
            nextPoll = outcome.nextPoll
            record(outcome, now: now)
            if outcome.wasFullResync, let source { await refreshDirectory(source) }
            if let problem = outcome.scratchProblem, problem != scratchProblemReported {
                logger.warning("the cases read are held in memory: \(problem)")
                scratchProblemReported = problem
            }
            // A full read onto a shelf brings every case it read there: later cases go there too, and the copies held
            // on the previous shelf are replaced, so that file goes.
            if let shelf = outcome.shelf {
                if scratchProblemReported != nil {
                    logger.notice("the cases read are on a scratch file in \(scratch) again")
                    scratchProblemReported = nil
                }
                cases.adopt(shelf)
                for subject in outcome.keptPacked where cases[subject.id] != nil { cases[subject.id] = subject }
            }
            // Incremental reads bring cases as structs, full reads packed.
            let changed = outcome.changed.map(PackedCase.init) + outcome.changedPacked
            let returning = changed.map(\.id).filter { released.contains($0) }
            for id in returning {
                released.remove(id)
                if let state = try await store.state(caseID: id) { loop.restore(state, for: id) }
                breachedCount = nil
            }
            for subject in changed {
                if let old = cases[subject.id], old.closedAt == nil { openCases -= 1 }
                if subject.closedAt == nil { openCases += 1 }
                cases[subject.id] = subject
                loop.markChanged(subject.id)
            }
            for id in outcome.removed {
                if let old = cases[id], old.closedAt == nil { openCases -= 1 }
                cases[id] = nil
                loop.forget(id)
                released.remove(id)
            }
            report.changedCases = changed.count + outcome.removed.count
            report.wasFullResync = outcome.wasFullResync
            // The read's rows are let go by now. Handing their pages back before the first tick keeps the peak at the
            // larger of the two rather than their sum: the tick's evaluating threads allocate from arenas of their
            // own, which would not reuse them.
            if outcome.wasFullResync { Self.returnFreedMemory() }
            evaluated = changed.map(\.id)
        }
        try await applyAcknowledgementChanges(now: now)

        // Evaluate, render and commit a batch of cases at a time: after a full read every open case may be due, and
        // holding all their notices and emails at once would cost far more memory than the cases themselves. Each
        // batch's states and notices commit together, so a crash between batches loses nothing: the rest are
        // evaluated again after the restart.
        var commit = StateStore.Commit()
        while true {
            let decided = loop.tick(at: now, rules: rules, limit: Self.batchSize) { cases[$0] }
            report.evaluated += loop.lastTickEvaluated
            for (id, state, deadline) in loop.drainTouched() {
                commit.states.append((id, state))
                commit.deadlines.append((id, deadline))
                evaluated.append(id)
            }
            // A closed case with nothing open is done with: it stays in the store only, so memory follows the open
            // cases rather than every case ever read.
            for id in evaluated {
                if let subject = cases[id], loop.isSettled(id, closedAt: subject.closedAt) {
                    cases[id] = nil
                    loop.release(id)
                    released.insert(id)
                }
            }
            // Cases still waiting for a later batch are checked again after it.
            evaluated.removeAll { !loop.isPending($0) }
            commit.notices += Self.queued(decided, mailer: mailer, rules: rules)
            report.notices += decided.map(\.notice.id)
            if !commit.states.isEmpty { breachedCount = nil }
            guard loop.hasWork(at: now) else { break }
            // More batches follow: this one commits now.
            try await write(commit, at: now, into: &report)
            commit = StateStore.Commit()
        }
        report.status = await statusLine(now: now)
        // An idle cycle (nothing recorded, the same status) costs no write, save a heartbeat every 10 seconds.
        let idle = commit.isEmpty && report.status == lastStatus && metaWritten.map { abs(now.timeIntervalSince($0)) < 10 } == true
        if !idle {
            commit.meta = await meta(now: now, status: report.status)
            metaWritten = now
            lastStatus = report.status
        }
        try await write(commit, at: now, into: &report)
        report.nextWake = min(nextPoll, loop.nextDeadline() ?? .distantFuture)
        tidyShelves()
        // After a full read or a large batch of evaluations the rows read have been let go (gigabytes at a million
        // orders); glibc keeps freed pages unless asked, and the unit's memory would stay at the peak.
        if report.wasFullResync || report.evaluated >= 10_000 { Self.returnFreedMemory() }
        return report
    }

    /// Moves cases or states onto a fresh shelf when their shelf is mostly bytes replaced since, and reports a disk
    /// that refused a shelf's writes (what it refused is held in memory, so nothing is lost).
    private func tidyShelves() {
        do {
            if try cases.compactIfNeeded() { logger.info("the cases were moved onto a fresh scratch file") }
            if try loop.compactStates() { logger.info("the escalation states were moved onto a fresh scratch file") }
        } catch {
            logger.warning("cannot make a fresh scratch file, keeping the current one: \(error)")
        }
        for (what, shelf) in [("cases", cases.shelf), ("escalation states", loop.stateShelf)] {
            guard let shelf else { continue }
            guard let failure = shelf.failure else {
                // A fresh shelf (a full read's, or a compaction's) that the disk took: it has room again.
                if shelfFailuresReported.removeValue(forKey: what) != nil { logger.notice("the disk takes the scratch file of the \(what) again") }
                continue
            }
            let held = shelf.heldBytes
            if let last = shelfFailuresReported[what], held < last + (64 << 20) { continue }
            shelfFailuresReported[what] = held
            logger.warning(
                "the disk refused the scratch file of the \(what) in \(shelf.directory) (\(failure.message), \(failure.count) times): \(held / 1_048_576) MB of them are held in memory instead; nothing is lost")
        }
    }

    /// Hands freed heap pages back to the kernel (glibc's `malloc_trim`).
    public static func returnFreedMemory() { _ = mallocTrim(0) }

    @_silgen_name("malloc_trim") private static func mallocTrim(_ pad: Int) -> Int32

    /// Commits what a batch recorded, if anything, and counts the notices it queued.
    private func write(_ commit: StateStore.Commit, at now: Date, into report: inout CycleReport) async throws {
        guard !commit.isEmpty else { return }
        let queued = try await store.commit(commit, at: now)
        report.queued += queued
        if queued > 0 { faults.reach(.afterCommit) }
    }

    /// A batch's notices for the outbox, each with its email rendered, in the batch's order. Rendering is nearly all
    /// of the work of a cycle that decides many notices (the first after a full read decides about three per open
    /// case, and Mustache looks every name up through dynamic casts), and each email depends only on its notice,
    /// case and state: a large batch is rendered on every core.
    static func queued(_ decided: [(notice: Notice, subject: Case, state: EscalationState)], mailer: NoticeMailer?, rules: Rules) -> [StateStore.QueuedNotice] {
        @Sendable func one(_ index: Int, _ rules: Rules) -> StateStore.QueuedNotice {
            let (notice, subject, state) = decided[index]
            guard let mailer, let message = mailer.message(notice, subject: subject, state: state, rules: rules) else {
                return StateStore.QueuedNotice(notice: notice, email: nil, spoolName: nil)
            }
            return StateStore.QueuedNotice(notice: notice, email: message.rendered(), spoolName: MailSpool.fileName(noticeID: notice.id))
        }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        guard mailer != nil, cores > 1, decided.count >= 64 else { return decided.indices.map { one($0, rules) } }
        return rules.concurrentMap(count: decided.count, chunks: min(cores * 4, decided.count / 16), context: {}) { index, rules, _ in one(index, rules) }
    }

    private func record(_ outcome: SourcePoller.Outcome, now: Date) {
        switch outcome.healthEvent {
        case .down(let since, let error):
            events.write(
                priority: 3, message: "The order database is unreachable: \(error). Escalation continues on the cases already read; retrying.",
                fields: [("MESSAGE_ID", EventID.sourceDown.messageID), ("ESCALATOR_SOURCE_DOWN_SINCE", TimestampFormat.iso(since))])
        case .up(let after, let attempts):
            events.write(
                priority: 5, message: "The order database is reachable again after \(Int(after)) s and \(attempts) failed attempts; catching up.",
                fields: [("MESSAGE_ID", EventID.sourceUp.messageID), ("ESCALATOR_OUTAGE_SECONDS", String(Int(after)))])
        case nil: break
        }
        for problem in outcome.problems {
            var fields: [(name: String, value: String)] = [("MESSAGE_ID", EventID.badRow.messageID), ("ESCALATOR_QUERY", problem.query)]
            if let id = problem.caseID { fields.append(("ESCALATOR_CASE", id)) }
            events.write(priority: 4, message: "Bad row in the order database: \(problem)", fields: fields)
        }
    }

    private func refreshDirectory(_ source: any CaseSource) async {
        guard configuration.source?.directory != nil else { return }
        do {
            guard let people = try await source.readDirectory() else { return }
            let (combined, problems) = configuration.rules.adding(people: people.people)
            for problem in problems { logger.warning("directory query: \(problem)") }
            rules = combined
            breachedCount = nil
        } catch {
            logger.warning("directory query failed, keeping the people read before: \(error)")
        }
    }

    private func applyAcknowledgementChanges(now: Date) async throws {
        let (changed, version) = try await store.acknowledgementChanges(after: ackVersion)
        ackVersion = version
        // A released case's acknowledgements are in the store, and come back with its state if it changes.
        for caseID in Set(changed.map(\.caseID)) where !released.contains(caseID) {
            loop.setAcknowledgements(try await store.acknowledgements(caseID: caseID), for: caseID)
        }
        for record in changed {
            let ack = record.acknowledgement
            let what = ack.policy.map { "policy \($0)" } ?? "every policy"
            let message = record.revokedAt == nil
                ? "Acknowledgement by \(ack.by) of case \(record.caseID) (\(what)) until \(TimestampFormat.iso(ack.until)) is in force"
                : "Acknowledgement by \(ack.by) of case \(record.caseID) (\(what)) was withdrawn by \(record.revokedBy ?? "?")"
            logger.info("\(message)", metadata: ["case": "\(record.caseID)"])
        }
    }

    /// What the daemon holds, for the soak benchmark: cases, escalation states, deadline queue entries (stale ones
    /// included), settled cases released to the store, cases the poller knows, and the bytes put on the scratch
    /// files of the cases and states, replaced ones included (0 when they are held in memory).
    public struct Footprint: Sendable, Codable {
        public let cases: Int
        public let states: Int
        public let queue: Int
        public let released: Int
        public let known: Int
        public let scratchBytes: Int
    }

    public func footprint() async -> Footprint {
        Footprint(
            cases: cases.count, states: loop.stateCount, queue: loop.queueCount, released: released.count, known: await poller?.knownCaseCount ?? 0,
            scratchBytes: (cases.shelf?.size ?? 0) + (loop.stateShelf?.size ?? 0))
    }

    /// Whether the order database answers, before the first (possibly long) full read: nil if it does, else why.
    public func probe() async -> String? {
        guard let source else { return "no source" }
        do {
            try await source.probe()
            return nil
        } catch {
            return "\(error)"
        }
    }

    // MARK: - Reload

    /// What a reload did.
    public enum ReloadOutcome: Sendable {
        case applied(generation: Int, removedPolicies: [String])
        case rejected([Diagnostic])
    }

    /// Validates the whole configuration in `directory`, then swaps it in at once. An invalid one changes nothing.
    public func reload(now: Date) async -> ReloadOutcome {
        let result = ConfigLoader.load(directory: configuration.directory)
        guard let next = result.configuration else { return .rejected(result.diagnostics.filter { $0.severity == .error }) }
        guard let settings = next.source else {
            return .rejected([Diagnostic(.error, file: next.files.first ?? next.directory, line: 1, column: 1, message: "the source section is missing: the daemon needs it")])
        }
        let newMailer: NoticeMailer?
        do {
            newMailer = try Self.makeMailer(next)
        } catch {
            return .rejected([Diagnostic(.error, file: next.directory, line: 1, column: 1, message: "mail templates: \(error)")])
        }
        if settings != configuration.source {
            do {
                let newSource = try CaseSources.open(settings)
                if let source { await source.close() }
                source = newSource
                poller = SourcePoller(source: newSource, settings: settings, packsCases: true, scratch: scratch)
                nextPoll = .distantPast
                // Another database: what the old one said no longer counts. Escalation states stay, so a case that
                // is in both is not escalated again; the first read of the new one brings back what it has.
                for id in cases.records.keys { loop.forget(id) }
                cases.removeAll()
                openCases = 0
            } catch {
                return .rejected([Diagnostic(.error, file: next.directory, line: 1, column: 1, message: "source: \(error)")])
            }
        }
        let kept = Set(next.rules.policies.map(\.name))
        let removed = configuration.rules.policies.map(\.name).filter { !kept.contains($0) }
        for policy in removed {
            let name = Array(policy.utf8)
            var open = 0
            loop.forEachPackedState { state in
                state.scanOccurrences { occurrencePolicy, _, cleared in
                    if !cleared && occurrencePolicy.elementsEqual(name) { open += 1 }
                }
            }
            logger.notice("policy \(policy) was removed from the rules: its \(open) open occurrences stop escalating")
        }
        configuration = next
        rules = next.rules
        loop.countedPolicies = Set(next.rules.policies.map(\.name))
        breachedCount = nil
        mailer = newMailer
        generation += 1
        if let source { await refreshDirectory(source) }
        for id in cases.records.keys { loop.markChanged(id) }
        return .applied(generation: generation, removedPolicies: removed)
    }

    // MARK: - Status

    /// The one-line status: `rules v3 · 1,204 open · 17 breached · next deadline 14:05 · source ok`.
    public func statusLine(now: Date) async -> String {
        let breached = breachedCases(now: now)
        var parts = ["rules v\(generation)", "\(Self.grouped(openCases)) open", "\(Self.grouped(breached)) breached"]
        if let next = loop.nextDeadline() {
            parts.append("next deadline \(Self.clockTime(next, now: now))")
        } else {
            parts.append("no deadline pending")
        }
        if let health = await poller?.health, let since = health.downSince {
            parts.append("source DOWN since \(Self.clockTime(since, now: now)) (degraded)")
        } else {
            parts.append(lastPoll == nil ? "source not polled yet" : "source ok")
        }
        return parts.joined(separator: " · ")
    }

    /// Cases with an open occurrence past its breach, of a policy in force (a removed policy's occurrences stay
    /// open in the state but are not counted).
    private func breachedCases(now: Date) -> Int {
        if let cached = breachedCount, cached.from <= now {
            // Cases not breached at the count whose breach time has come since.
            var low = 0
            var high = cached.later.count
            while low < high {
                let middle = (low + high) / 2
                if cached.later[middle] <= now { low = middle + 1 } else { high = middle }
            }
            return cached.count + low
        }
        // The loop keeps each case's earliest open breach among the policies in force (`countedPolicies`).
        var count = 0
        var later: [Date] = []
        loop.forEachEarliestBreach { first in
            if first <= now { count += 1 } else { later.append(first) }
        }
        breachedCount = (count, now, later.sorted())
        return count
    }

    private func meta(now: Date, status: String) async -> [String: String] {
        var meta = [
            "status": status, "last_tick": TimestampFormat.iso(now), "generation": String(generation),
            "open_cases": String(openCases), "pid": String(getpid()), "config": configuration.directory,
        ]
        if let lastPoll { meta["last_poll"] = TimestampFormat.iso(lastPoll) }
        if let health = await poller?.health {
            meta["source"] = health.downSince.map { "down since \(TimestampFormat.iso($0)): \(health.lastError ?? "")" } ?? (lastPoll == nil ? "not polled yet" : "ok")
        }
        return meta
    }

    static func grouped(_ number: Int) -> String {
        let digits = String(number)
        var out = ""
        for (index, character) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out += "," }
            out.append(character)
        }
        return out
    }

    /// HH:MM in local time, with the date when it is not today.
    static func clockTime(_ date: Date, now: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .current
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        let time = "\(String(parts.hour ?? 0).leftPadded(2)):\(String(parts.minute ?? 0).leftPadded(2))"
        if calendar.isDate(date, inSameDayAs: now) { return time }
        return "\(parts.year ?? 0)-\(String(parts.month ?? 0).leftPadded(2))-\(String(parts.day ?? 0).leftPadded(2)) \(time)"
    }

    /// Closes the source.
    public func close() async {
        if let source { await source.close() }
        source = nil
        poller = nil
    }
}
