/// A person who can be notified.
public struct Person: Hashable, Sendable {
    public let id: String
    public let name: String
    public let email: String
    public let supervisor: String?
    /// The calendar that holds this person's quiet-hours steps; nil means the policy's calendar.
    public let calendar: String?

    public init(id: String, name: String, email: String, supervisor: String? = nil, calendar: String? = nil) {
        self.id = id
        self.name = name
        self.email = email
        self.supervisor = supervisor
        self.calendar = calendar
    }

    /// The same person in storage of its own (see `Rules.withReplica`).
    var unshared: Person {
        Person(id: id.unshared, name: name.unshared, email: email.unshared, supervisor: supervisor?.unshared, calendar: calendar?.unshared)
    }
}

extension String {
    /// The same text in a buffer of its own, not shared with this string (short strings have none to share).
    var unshared: String { String(decoding: Array(utf8), as: UTF8.self) }
}

/// The people directory. The loader guarantees that supervisors exist and that the chain has no cycle.
public struct Directory: Sendable {
    public let people: [String: Person]
    /// Each person's supervisors, nearest first, worked out once: every escalation step asks for them.
    private let chains: [String: [Person]]

    public init(_ people: [Person]) {
        let byID = Dictionary(people.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        self.people = byID
        var chains: [String: [Person]] = [:]
        for id in byID.keys {
            var out: [Person] = []
            var seen: Set<String> = [id]
            var current = byID[id]?.supervisor
            while let next = current, let person = byID[next], seen.insert(next).inserted {
                out.append(person)
                current = person.supervisor
            }
            chains[id] = out
        }
        self.chains = chains
    }

    public subscript(id: String) -> Person? { people[id] }

    /// The supervisors above `id`, nearest first. Stops at a repeated person, so it ends even on bad data.
    public func chain(above id: String) -> [Person] { chains[id] ?? [] }

    /// The first supervisor cycle, as the ids in order with the first repeated at the end; nil if none.
    public func firstCycle() -> [String]? {
        for start in people.keys.sorted() {
            var path: [String] = [start]
            var current = people[start]?.supervisor
            while let next = current, people[next] != nil {
                if let index = path.firstIndex(of: next) {
                    // Report each cycle once, from its first member in name order.
                    if index == 0 { return path + [next] }
                    break
                }
                path.append(next)
                current = people[next]?.supervisor
            }
        }
        return nil
    }
}

/// Who is who for a case: a person, the case's owner column, or another case column holding a person id.
public enum PartyRef: Hashable, Sendable, CustomStringConvertible {
    case owner
    case person(String)
    case column(String)

    public var description: String {
        switch self {
        case .owner: return "owner"
        case .person(let id): return id
        case .column(let name): return "column \(name)"
        }
    }
}

/// The RACI roles for one kind of case.
public struct RaciEntry: Hashable, Sendable {
    public var responsible: PartyRef
    public var accountable: [PartyRef]
    public var consulted: [PartyRef]
    public var informed: [PartyRef]

    public init(
        responsible: PartyRef = .owner, accountable: [PartyRef] = [], consulted: [PartyRef] = [],
        informed: [PartyRef] = []
    ) {
        self.responsible = responsible
        self.accountable = accountable
        self.consulted = consulted
        self.informed = informed
    }
}

/// RACI per case kind, a default for other kinds, and who takes cases that have no valid owner.
public struct Raci: Sendable {
    public var byKind: [String: RaciEntry]
    public var fallback: RaciEntry
    public var fallbackOwner: String?

    public init(byKind: [String: RaciEntry] = [:], fallback: RaciEntry = RaciEntry(), fallbackOwner: String? = nil) {
        self.byKind = byKind
        self.fallback = fallback
        self.fallbackOwner = fallbackOwner
    }

    public func entry(for kind: String?) -> RaciEntry { kind.flatMap { byKind[$0] } ?? fallback }

    /// The case columns that name a party, in any entry: sorted, each once. Who a role names for a case depends on
    /// its kind, its owner and the values of these columns, and on nothing else of the case.
    public var columnsRead: [String] {
        var names = Set<String>()
        for entry in [fallback] + byKind.values {
            for party in [entry.responsible] + entry.accountable + entry.consulted + entry.informed {
                if case .column(let name) = party { names.insert(name) }
            }
        }
        return names.sorted()
    }
}
