import Foundation

/// One service level: which cases it covers, what it measures, in which calendar, and how it escalates.
/// A policy is shared, never changed once built: a class, so that the many places an evaluation hands it on
/// retain one object instead of copying every field.
public final class Policy: Sendable {
    /// A date on the case that a deadline or a silence counts from.
    public enum DateField: String, Sendable, CaseIterable {
        case openedAt = "opened_at"
        case promisedAt = "promised_at"
        case statusSince = "status_since"
        case customerWaitingSince = "customer_waiting_since"
        case lastCustomerUpdate = "last_customer_update"
        case lastInternalUpdate = "last_internal_update"
    }

    /// Where a silence is measured from: the last activity of a kind (falling back to `opened_at`), or a field.
    public enum Since: Hashable, Sendable, CustomStringConvertible {
        case last(Activity.Kind)
        case field(DateField)

        public var description: String {
            switch self {
            case .last(let kind): return "last(\(kind.rawValue))"
            case .field(let field): return field.rawValue
            }
        }
    }

    /// What a policy measures. Each yields zero or more clocks per case.
    public enum Measure: Sendable {
        /// A fixed deadline: a date field plus an optional span, e.g. `opened_at + 2 business days`.
        case deadline(field: DateField, plus: Span)
        /// The company has not written to the customer for `after` (keep the customer informed).
        case silence(since: Since, after: Span)
        /// A customer message has waited `after` for an answer.
        case response(after: Span)
        /// Each dated promise is its own clock, breached `grace` after its due time.
        case promise(grace: Span)
        /// No internal update for `after` while the case stays in one status.
        case stall(after: Span)
        /// The case has had no valid owner for `after`.
        case unowned(after: Span)
        /// An obligation is still open `grace` after the case was delivered or closed.
        case obligation(onStatus: [String], grace: Span)

        public var name: String {
            switch self {
            case .deadline: return "deadline"
            case .silence: return "silence"
            case .response: return "response"
            case .promise: return "promise"
            case .stall: return "stall"
            case .unowned: return "unowned"
            case .obligation: return "obligation"
            }
        }
    }

    /// When the warning comes: at a share of the allowed time, or a span before the breach.
    public enum Warning: Hashable, Sendable, CustomStringConvertible {
        case percent(Double)
        case before(Span)

        public var description: String {
            switch self {
            case .percent(let share): return "\(Int((share * 100).rounded()))%"
            case .before(let span): return "\(span) before breach"
            }
        }
    }

    public let name: String
    public let measure: Measure
    public let appliesTo: CaseMatcher
    /// While the case matches this, the clock does not run (paused, not frozen: paused time is not counted).
    public let pauseWhile: CaseMatcher?
    /// Any of these met stops the clock for good.
    public let until: [StopCondition]
    public let calendar: BusinessCalendar
    /// The calendar's time zone with every hour open: where wall-clock spans are counted.
    public let wallCalendar: BusinessCalendar
    public let warning: Warning?
    public let ladder: Ladder
    /// The mail template of this policy's notices (a step may override it); nil for the default.
    public let template: String?

    public init(
        name: String, measure: Measure, appliesTo: CaseMatcher = .any, pauseWhile: CaseMatcher? = nil,
        until: [StopCondition] = [], calendar: BusinessCalendar, warning: Warning? = nil, ladder: Ladder,
        template: String? = nil
    ) {
        self.template = template
        self.name = name
        self.measure = measure
        self.appliesTo = appliesTo
        self.pauseWhile = pauseWhile
        self.until = until
        self.calendar = calendar
        self.wallCalendar = calendar.wall
        self.warning = warning
        self.ladder = ladder
    }
}

/// The escalation steps of a policy.
public struct Ladder: Sendable {
    /// Who a step is addressed to.
    public enum Recipient: Hashable, Sendable, CustomStringConvertible {
        case role(Role)
        case person(String)

        public var description: String {
            switch self {
            case .role(let role): return role.rawValue
            case .person(let id): return id
            }
        }
    }

    /// A role, resolved per case through RACI and the directory.
    public enum Role: String, Hashable, Sendable, CaseIterable {
        /// The case owner (or the fallback owner when it has none).
        case responsible
        /// The owner's supervisor.
        case supervisor
        /// The supervisor's supervisor, or the accountable person when there is none.
        case manager
        case accountable
        case consulted
        case informed
    }

    /// What a step counts from.
    public enum Anchor: String, Hashable, Sendable {
        case warn, breach
    }

    public struct Step: Hashable, Sendable {
        public let anchor: Anchor
        public let offset: Span
        public let to: [Recipient]
        public let cc: [Recipient]
        /// Hold the step until the recipient's calendar is open.
        public let quietHours: Bool
        /// A template name that overrides the policy's for this step.
        public let template: String?

        public init(
            anchor: Anchor, offset: Span = .zero, to: [Recipient], cc: [Recipient] = [], quietHours: Bool = true,
            template: String? = nil
        ) {
            self.anchor = anchor
            self.offset = offset
            self.to = to
            self.cc = cc
            self.quietHours = quietHours
            self.template = template
        }

        public var label: String { offset.isZero ? anchor.rawValue : "\(anchor.rawValue) + \(offset)" }
    }

    /// Who hears that a condition cleared.
    public enum OnClear: Hashable, Sendable {
        /// Everyone who was notified in that occurrence.
        case notified
        /// Nobody.
        case nobody
    }

    public let steps: [Step]
    /// The top step repeats this often until the condition clears or someone acknowledges.
    public let repeatEvery: Span?
    public let onClear: OnClear

    public init(steps: [Step], repeatEvery: Span? = nil, onClear: OnClear = .notified) {
        self.steps = steps
        self.repeatEvery = repeatEvery
        self.onClear = onClear
    }
}

/// "Someone is on it until then": pauses the climb of an occurrence that had breached when it was given.
public struct Acknowledgement: Hashable, Sendable, Codable {
    /// The policy acknowledged; nil for every policy of the case.
    public let policy: String?
    public let by: String
    public let at: Date
    public let until: Date
    public let note: String?

    public init(policy: String?, by: String, at: Date, until: Date, note: String? = nil) {
        self.policy = policy
        self.by = by
        self.at = at
        self.until = until
        self.note = note
    }
}

/// The whole rule set, as loaded from a configuration directory.
public struct Rules: Sendable {
    public let calendars: [String: BusinessCalendar]
    public let directory: Directory
    public let raci: Raci
    public let policies: [Policy]
    /// How to build these rules again in storage of their own, for the cores that evaluate at once (see
    /// `withReplica`); nil for rules built in code, which every core then shares.
    let replicas: Replicas?

    public init(calendars: [String: BusinessCalendar], directory: Directory, raci: Raci, policies: [Policy]) {
        self.init(calendars: calendars, directory: directory, raci: raci, policies: policies, replicas: nil)
    }

    init(calendars: [String: BusinessCalendar], directory: Directory, raci: Raci, policies: [Policy], replicas: Replicas?) {
        self.calendars = calendars
        self.directory = directory
        self.raci = raci
        self.policies = policies
        self.replicas = replicas
    }

    /// These rules, which `rebuild` builds again from the same text whenever it is called: each core that evaluates
    /// then gets its own copy (`withReplica`). `rebuild` must give the same rules every time; nil means it could
    /// not, and the core shares these.
    public func replicable(by rebuild: @escaping @Sendable () -> Rules?) -> Rules {
        Rules(calendars: calendars, directory: directory, raci: raci, policies: policies, replicas: Replicas(rebuild))
    }

    /// Runs `body` with rules equal to these that no other thread is using at the time, built again from their text
    /// the first time a core needs them and kept for the next call.
    ///
    /// Why: evaluating hands the rules' policies, calendars, names and addresses on again and again, and each
    /// hand-over counts a reference on the shared object with an atomic operation. With every core counting on
    /// the same objects, those operations contend for the same cache lines: on two cores, `simulate` spent up to
    /// half again the CPU time it spent on one for the same work. Rules built in code have no text to build from, and
    /// are shared.
    public func withReplica<T>(_ body: (Rules) throws -> T) rethrows -> T {
        guard let replicas, let replica = replicas.take() else { return try body(self) }
        defer { replicas.give(back: replica) }
        return try body(replica)
    }

    /// `transform(index, rules, context)` for every index below `count`, in order, the indices shared out in
    /// `chunks` runs among the cores. Each run has a copy of these rules of its own (`withReplica`) and a context
    /// of its own, which `context` makes when the run starts (a cache the run's items share, say).
    public func concurrentMap<Context, Result>(
        count: Int, chunks: Int, context: @Sendable () -> Context, _ transform: @Sendable (Int, Rules, Context) -> Result
    ) -> [Result] {
        let chunks = max(1, min(chunks, count))
        // Each run writes only its own slots.
        nonisolated(unsafe) let results = UnsafeMutableBufferPointer<Result>.allocate(capacity: count)
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let context = context()
            withReplica { rules in
                for index in (count * chunk / chunks)..<(count * (chunk + 1) / chunks) {
                    (results.baseAddress! + index).initialize(to: transform(index, rules, context))
                }
            }
        }
        return Array(unsafeUninitializedCapacity: count) { out, initialized in
            _ = out.moveInitialize(fromContentsOf: results)
            initialized = count
        }
    }

    /// The rules with people read from the directory query added to those of the rule files (which win on the
    /// same id). Returns the problems found in the combined directory: unknown supervisors and cycles.
    public func adding(people: [Person]) -> (rules: Rules, problems: [String]) {
        var merged = directory.people
        for person in people where merged[person.id] == nil { merged[person.id] = person }
        var problems: [String] = []
        for person in merged.values.sorted(by: { $0.id < $1.id }) {
            if let supervisor = person.supervisor, merged[supervisor] == nil {
                problems.append("person \(person.id): supervisor \(supervisor) is not in the directory")
            }
        }
        let combined = Directory(Array(merged.values))
        if let cycle = combined.firstCycle() { problems.append("the supervisor chain has a cycle: \(cycle.joined(separator: " → "))") }
        // A replica adds copies of the people of its own, so that no core shares their names and addresses.
        let added = replicas.map { base in
            Replicas { base.build().map { $0.adding(people: people.map(\.unshared)).rules } }
        }
        return (Rules(calendars: calendars, directory: combined, raci: raci, policies: policies, replicas: added), problems)
    }
}

/// The copies of one rule set handed to the cores (`Rules.withReplica`): each is built the first time no copy is
/// free, and at most one per core is kept.
final class Replicas: @unchecked Sendable {
    let build: @Sendable () -> Rules?
    private let lock = NSLock()
    private var free: [Rules] = []
    private var made = 0
    /// Set when a build failed: the cores share the original from then on.
    private var failed = false

    init(_ build: @escaping @Sendable () -> Rules?) { self.build = build }

    /// A copy no other thread holds; nil when as many as there are cores are out, or copies cannot be built.
    func take() -> Rules? {
        lock.lock()
        if let copy = free.popLast() {
            lock.unlock()
            return copy
        }
        guard !failed, made < ProcessInfo.processInfo.activeProcessorCount else {
            lock.unlock()
            return nil
        }
        made += 1
        lock.unlock()
        // Built outside the lock: another core may take or build meanwhile.
        guard let copy = build() else {
            lock.lock()
            failed = true
            lock.unlock()
            return nil
        }
        return copy
    }

    func give(back copy: Rules) {
        lock.lock()
        free.append(copy)
        lock.unlock()
    }
}
