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

    init(subject: Case, signals: CaseSignals, rules: Rules) {
        self.subject = subject
        self.signals = signals
        self.rules = rules
        self.raci = rules.raci.entry(for: subject.kind)
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

    /// Places a ladder step in time, with its recipients and any quiet-hours hold.
    func schedule(
        _ step: Ladder.Step, number: Int, repeatNumber: Int, trigger: Notice.Trigger, at nominal: Date, policy: Policy
    ) -> ScheduledStep {
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

        return ScheduledStep(
            step: number, repeatNumber: repeatNumber, trigger: trigger, nominal: nominal,
            effective: effectiveTime(step, to: to, nominal: nominal, policy: policy), to: to, cc: cc, unresolved: unresolved,
            template: step.template ?? policy.template)
    }

    /// The same step again at another time (a repeat): the recipients do not change, only when it may be sent.
    func again(_ placed: ScheduledStep, _ step: Ladder.Step, repeatNumber: Int, at nominal: Date, policy: Policy) -> ScheduledStep {
        ScheduledStep(
            step: placed.step, repeatNumber: repeatNumber, trigger: placed.trigger, nominal: nominal,
            effective: effectiveTime(step, to: placed.to, nominal: nominal, policy: policy), to: placed.to, cc: placed.cc,
            unresolved: placed.unresolved, template: placed.template)
    }

    /// `nominal`, or the next opening of the first recipient's calendar when the step keeps quiet hours.
    private func effectiveTime(_ step: Ladder.Step, to: [Notice.Addressee], nominal: Date, policy: Policy) -> Date {
        guard step.quietHours else { return nominal }
        let calendar = to.first.flatMap { rules.directory[$0.id]?.calendar }.flatMap { rules.calendars[$0] } ?? policy.calendar
        return calendar.nextOpening(atOrAfter: nominal) ?? nominal
    }
}
