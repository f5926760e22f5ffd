import Foundation

/// Resolves ladder roles to people for one case: owner → supervisor → manager, through RACI and the directory.
///
/// One evaluation places many steps (every policy, clock and repeat) for the same case, and they name the same
/// few recipient lists, so each list is resolved once and kept.
final class RoleResolver {
    let subject: Case
    let signals: CaseSignals
    let rules: Rules
    let raci: RaciEntry
    private var responsiblePerson: Person?? = nil
    /// Each recipient list resolved so far, searched in order: there are a few, and comparing is cheaper than hashing.
    private var addresseeLists: [(recipients: [Ladder.Recipient], addressees: [Notice.Addressee], unresolved: [String])] = []
    /// Each step's recipients resolved so far, and where that step's lists are stored.
    private var stepKeys: [StepKey] = []
    private var stepRecipients: [StepRecipients] = []

    private let memo: RecipientMemo?

    /// The memo's entries for this case's owner, kind and the columns that name a party; nil when the memo is not
    /// used (none given, or it has stopped keeping entries).
    private lazy var memoSlot: Int? = memo?.slot(owner: signals.owner, of: subject, rules: rules)

    init(subject: Case, signals: CaseSignals, rules: Rules, memo: RecipientMemo? = nil) {
        self.subject = subject
        self.signals = signals
        self.rules = rules
        self.raci = rules.raci.entry(for: subject.kind)
        self.memo = memo
    }

    private func person(_ ref: PartyRef) -> Person? {
        switch ref {
        case .owner: return signals.ownerIsValid ? signals.owner.flatMap { rules.directory[$0] } : nil
        case .person(let id): return rules.directory[id]
        case .column(let name):
            // A column holding a person id; a name that is no column of the case may be a person read later
            // from the directory query.
            if let value = subject.attributes[name] { return rules.directory[value] }
            return rules.directory[name]
        }
    }

    /// The Responsible person: the RACI responsible (normally the owner), else the fallback owner.
    var responsible: Person? {
        if let known = responsiblePerson { return known }
        let found = person(raci.responsible) ?? rules.raci.fallbackOwner.flatMap { rules.directory[$0] }
        responsiblePerson = .some(found)
        return found
    }

    /// The people a recipient names, and a note for a role that named nobody.
    func resolve(_ recipient: Ladder.Recipient) -> (people: [Person], unresolved: String?) {
        switch recipient {
        case .person(let id):
            return rules.directory[id].map { ([$0], nil) } ?? ([], "person \(id)")
        case .role(let role):
            let people: [Person]
            switch role {
            case .responsible:
                people = responsible.map { [$0] } ?? []
            case .supervisor:
                people = responsible.flatMap { rules.directory.chain(above: $0.id).first }.map { [$0] } ?? []
            case .manager:
                let chain = responsible.map { rules.directory.chain(above: $0.id) } ?? []
                people = chain.count >= 2 ? [chain[1]] : raci.accountable.compactMap(person)
            case .accountable:
                people = raci.accountable.compactMap(person)
            case .consulted:
                people = raci.consulted.compactMap(person)
            case .informed:
                people = raci.informed.compactMap(person)
            }
            if people.isEmpty {
                let whose = responsible.map { " of \($0.id)" } ?? ""
                return ([], role == .responsible ? "responsible (no valid owner, no fallback owner)" : "\(role.rawValue)\(whose)")
            }
            return (people, nil)
        }
    }

    /// Places a ladder step in time, with its recipients and any quiet-hours hold. The step is given by where the
    /// rules store it: read in place, and known by that address (see `recipients(of:)`).
    func schedule(
        _ step: UnsafePointer<Ladder.Step>, number: Int, repeatNumber: Int, trigger: Notice.Trigger, at nominal: Date, policy: Policy
    ) -> ScheduledStep {
        let recipients = recipients(of: step)
        return ScheduledStep(
            step: number, repeatNumber: repeatNumber, trigger: trigger, nominal: nominal,
            effective: effectiveTime(quietHours: step.pointee.quietHours, recipients, nominal: nominal, policy: policy),
            recipients: recipients, template: step.pointee.template ?? policy.template)
    }

    /// The same step again at another time (a repeat): the recipients do not change, only when it may be sent.
    func again(_ placed: ScheduledStep, quietHours: Bool, repeatNumber: Int, at nominal: Date, policy: Policy) -> ScheduledStep {
        ScheduledStep(
            step: placed.step, repeatNumber: repeatNumber, trigger: placed.trigger, nominal: nominal,
            effective: effectiveTime(quietHours: quietHours, placed.recipients, nominal: nominal, policy: policy),
            recipients: placed.recipients, template: placed.template)
    }

    /// When a repeat of `placed` at `nominal` may be sent, without placing it.
    func effectiveTime(of placed: ScheduledStep, quietHours: Bool, at nominal: Date, policy: Policy) -> Date {
        effectiveTime(quietHours: quietHours, placed.recipients, nominal: nominal, policy: policy)
    }

    /// A step's recipients, resolved once per evaluation (the policies share a ladder, and each step is placed
    /// again for every clock and repeat). Looked up by where the rules store the step, which stays the same for as
    /// long as the rules live: a plain value, so the search neither compares recipients nor retains anything. A
    /// step of another ladder with equal lists is resolved again, to the same result.
    private func recipients(of step: UnsafePointer<Ladder.Step>) -> StepRecipients {
        let key = StepKey(step: UnsafeRawPointer(step))
        if let index = stepKeys.firstIndex(of: key) { return stepRecipients[index] }
        let memoSlot = memoSlot
        if let memoSlot, let known = memo?.recipients(key, slot: memoSlot) {
            stepKeys.append(key)
            stepRecipients.append(known)
            return known
        }
        let step = step.pointee
        var unresolved: [String] = []
        func addressees(_ recipients: [Ladder.Recipient]) -> [Notice.Addressee] {
            if let known = addresseeLists.first(where: { $0.recipients == recipients }) {
                unresolved += known.unresolved
                return known.addressees
            }
            var out: [Notice.Addressee] = []
            var missed: [String] = []
            defer {
                addresseeLists.append((recipients, out, missed))
                unresolved += missed
            }
            for recipient in recipients {
                let (people, missing) = resolve(recipient)
                if let missing { missed.append(missing) }
                let role: String
                if case .role(let name) = recipient { role = name.rawValue } else { role = "person" }
                for person in people where !out.contains(where: { $0.id == person.id }) {
                    out.append(Notice.Addressee(id: person.id, name: person.name, email: person.email, role: role))
                }
            }
            return out
        }
        var to = addressees(step.to)
        if to.isEmpty, let fallback = rules.raci.fallbackOwner.flatMap({ rules.directory[$0] }) {
            to = [Notice.Addressee(id: fallback.id, name: fallback.name, email: fallback.email, role: "fallback")]
        }
        let cc = addressees(step.cc).filter { person in !to.contains { $0.id == person.id } }
        let calendar = to.first.flatMap { rules.directory[$0.id]?.calendar }.flatMap { rules.calendars[$0] }
        let resolved = StepRecipients(to: to, cc: cc, unresolved: unresolved, quietCalendar: calendar)
        stepKeys.append(key)
        stepRecipients.append(resolved)
        if let memoSlot { memo?.keep(resolved, key, slot: memoSlot) }
        return resolved
    }

    /// Where the rules store a step.
    struct StepKey: Equatable {
        let step: UnsafeRawPointer
    }

    /// `nominal`, or the next opening of the first recipient's calendar when the step keeps quiet hours.
    private func effectiveTime(quietHours: Bool, _ recipients: StepRecipients, nominal: Date, policy: Policy) -> Date {
        guard quietHours else { return nominal }
        return (recipients.quietCalendar ?? policy.calendar).nextOpening(atOrAfter: nominal) ?? nominal
    }
}

/// The people one ladder step is addressed to for one case, and the notes for roles that named nobody. Shared by
/// every placement of the step in an evaluation, so placing a step copies one reference, not three lists.
final class StepRecipients: Sendable {
    let to: [Notice.Addressee]
    let cc: [Notice.Addressee]
    let unresolved: [String]
    /// The calendar whose opening quiet hours wait for: the first recipient's; nil for the policy's.
    let quietCalendar: BusinessCalendar?

    init(to: [Notice.Addressee], cc: [Notice.Addressee], unresolved: [String], quietCalendar: BusinessCalendar?) {
        self.to = to
        self.cc = cc
        self.unresolved = unresolved
        self.quietCalendar = quietCalendar
    }
}

/// Recipients resolved, kept from one evaluation to the next under the same rules. What a step resolves to depends
/// on the rules, the case's owner and kind, and the values of the case columns that the RACI names a party by
/// (`Raci.columnsRead`): entries are kept per owner, kind and those values. So one memo serves the evaluations of
/// one case (simulate evaluates each case at every deadline), or of many cases: a tick evaluating a thousand cases
/// of a few owners resolves each list a few times, not a thousand. When nearly every case has owner, kind and
/// columns of its own (hundreds of owners, a column naming a person per case), keeping entries costs more than it
/// saves: after `trial` cases with fewer than one in four found, the memo stops keeping and finding anything.
/// Not shared between threads.
public final class RecipientMemo: @unchecked Sendable {
    /// What a case's entries are kept under.
    private struct Slot: Hashable {
        let owner: String?
        let kind: String?
        /// The values of `columns`, in that order; empty when the RACI names no party by a column.
        let values: [String?]
    }

    /// The columns that name a party, read from the rules at the first lookup (a memo serves one set of rules).
    private var columns: [String]?
    private var slots: [Slot: Int] = [:]
    /// The slot found or made last, and its index (-1 before the first).
    private var lastSlot = Slot(owner: nil, kind: nil, values: [])
    private var lastIndex = -1
    /// The columns of the case that found or made it: the same columns hold the same values (and when they are the
    /// same dictionary, as for every view of one case in `simulate`, comparing them is one pointer comparison).
    private var lastAttributes: [String: String] = [:]
    private var entries: [[(key: RoleResolver.StepKey, resolved: StepRecipients)]] = []
    /// Cases looked up, and how many of them found a slot already there.
    private var lookups = 0
    private var found = 0
    /// Whether the memo has stopped: too few cases found a slot.
    private(set) var hasStopped = false

    /// How many cases the memo is tried on before it may stop.
    static let trial = 512

    public init() {}

    /// Where the entries of a case's owner (as its signals have it), kind and party columns are (added if new):
    /// looked up once per evaluation, so that each step is then found by its key alone. Nil once the memo has
    /// stopped.
    func slot(owner: String?, of subject: Case, rules: Rules) -> Int? {
        guard !hasStopped else { return nil }
        if lookups == Self.trial && found * 4 < lookups {
            hasStopped = true
            slots = [:]
            lastIndex = -1
            lastAttributes = [:]
            entries = []
            return nil
        }
        lookups += 1
        let columns = self.columns ?? rules.raci.columnsRead
        self.columns = columns
        let kind = subject.kind
        // The same key as the case before (always so in `simulate`, which keeps a memo per case): compared in
        // place, neither hashed nor built.
        if lastIndex >= 0 && lastSlot.owner == owner && lastSlot.kind == kind
            && (columns.isEmpty || subject.attributes == lastAttributes || sameValues(columns, subject))
        {
            found += 1
            return lastIndex
        }
        let slot = Slot(owner: owner, kind: kind, values: columns.isEmpty ? [] : columns.map { subject.attributes[$0] })
        let index: Int
        if let known = slots[slot] {
            found += 1
            index = known
        } else {
            index = entries.count
            slots[slot] = index
            entries.append([])
        }
        lastSlot = slot
        lastIndex = index
        lastAttributes = subject.attributes
        return index
    }

    /// Whether the case's values of `columns` are those of the last slot.
    private func sameValues(_ columns: [String], _ subject: Case) -> Bool {
        for index in columns.indices where subject.attributes[columns[index]] != lastSlot.values[index] { return false }
        return true
    }

    func recipients(_ key: RoleResolver.StepKey, slot: Int) -> StepRecipients? {
        entries[slot].first { $0.key == key }?.resolved
    }

    func keep(_ resolved: StepRecipients, _ key: RoleResolver.StepKey, slot: Int) {
        entries[slot].append((key, resolved))
    }
}
