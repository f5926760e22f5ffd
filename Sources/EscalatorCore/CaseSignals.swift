import Foundation

/// The facts derived from a case and its activity at one instant. Only activity at or before `now` counts.
///
/// Row or history: when the case has activity after `now`, the caller is looking at the past (simulation), so
/// status and owner are read from the status changes and assignments up to `now`. Otherwise the case row is
/// the present truth and wins over history.
public struct CaseSignals: Sendable {
    /// A promise or an obligation that is still open.
    public struct OpenItem: Sendable, Hashable {
        public let id: String
        public let madeAt: Date
        public let due: Date?
        public let text: String?
    }

    /// One stretch of the status history: `status` held from `since` until the next segment.
    public struct StatusSegment: Sendable, Hashable {
        public let since: Date
        public let status: String?
    }

    public let now: Date
    public let status: String?
    public let statusSince: Date
    public let statusHistory: [StatusSegment]
    public let owner: String?
    public let ownerSince: Date
    /// The owner is set and is a person in the directory.
    public let ownerIsValid: Bool
    /// The first customer message (or escalation request) not yet answered by a `customer_update`.
    public let customerWaitingSince: Date?
    public let lastCustomerUpdate: Date?
    /// The last sign of progress inside the company: an internal update, a status change or a delivery.
    public let lastInternalUpdate: Date?
    public let lastEscalationRequest: Date?
    public let openPromises: [OpenItem]
    public let openObligations: [OpenItem]
    /// When the case closed, if it has by `now`.
    public let closedAt: Date?
    /// When each activity kind or tag was first seen, e.g. `["proof_sent": …, "delivery": …]`.
    public let firstSeen: [String: Date]

    public init(case subject: Case, at now: Date, isKnownPerson: (String) -> Bool) {
        self.now = now
        // Activity is read in place by index throughout: the engine builds these signals at every evaluation,
        // and copying a row (its texts) to look at its time or kind would cost more than the rest.
        // The daemon's cases have nothing after `now`: then the activity is used as it is, not copied.
        let all = subject.activity
        let lookingBack = subject.hasActivity(after: now)
        let past = lookingBack ? all.filter { $0.at <= now } : all

        // Status: history when looking back, otherwise the row.
        var anyChanges = false
        for index in all.indices where all[index].kind == .statusChange {
            anyChanges = true
            break
        }
        var history = [StatusSegment(since: subject.openedAt, status: anyChanges ? nil : subject.status)]
        var lastChange: Date?
        for index in past.indices where past[index].kind == .statusChange {
            history.append(StatusSegment(since: past[index].at, status: past[index].status))
            lastChange = past[index].at
        }
        if !lookingBack, let rowStatus = subject.status, history.last?.status != rowStatus {
            // The last change to the row's status, else the last change: history holds the changes after its
            // first segment.
            let since = history.dropFirst().last(where: { $0.status == rowStatus })?.since ?? lastChange ?? subject.openedAt
            history.append(StatusSegment(since: max(since, history.last!.since), status: rowStatus))
        }
        self.statusHistory = history
        self.status = history.last!.status
        self.statusSince = history.last!.since

        // Owner: the last assignment when looking back, otherwise the row.
        var lastAssignment: Int?
        for index in past.indices.reversed() where past[index].kind == .assignment {
            lastAssignment = index
            break
        }
        var owner = subject.owner
        var ownerSince = subject.openedAt
        if let last = lastAssignment {
            let person = past[last].person
            if lookingBack || subject.owner == nil || subject.owner == person {
                owner = person
                ownerSince = past[last].at
            } else {
                ownerSince = past[last].at
                for index in past.indices.reversed() where past[index].kind == .assignment && past[index].person == subject.owner {
                    ownerSince = past[index].at
                    break
                }
            }
        }
        let trimmedOwner = owner?.trimmedOfWhitespace
        self.owner = trimmedOwner?.isEmpty == false ? trimmedOwner : nil
        self.ownerSince = ownerSince
        self.ownerIsValid = self.owner.map(isKnownPerson) ?? false

        var waiting: Date?
        var lastUpdate: Date?
        var lastInternal: Date?
        var lastEscalation: Date?
        var promises: [OpenItem] = []
        var promiseKeptBy: [String: Activity.Kind] = [:]
        var obligations: [OpenItem] = []
        // Room for every kind and a few tags, so that filling it never grows it.
        var firstSeen: [String: Date] = Dictionary(minimumCapacity: 16)
        for index in past.indices {
            let kind = past[index].kind
            let at = past[index].at
            if firstSeen[kind.rawValue] == nil { firstSeen[kind.rawValue] = at }
            if let tag = past[index].tag, firstSeen[tag] == nil { firstSeen[tag] = at }
            if let ref = past[index].ref {
                promises.removeAll { $0.id == ref }
                obligations.removeAll { $0.id == ref }
            }
            if !promiseKeptBy.isEmpty { promises.removeAll { promiseKeptBy[$0.id] == kind && $0.madeAt < at } }
            switch kind {
            case .customerMessage:
                if waiting == nil { waiting = at }
            case .escalationRequest:
                if waiting == nil { waiting = at }
                lastEscalation = at
            case .customerUpdate:
                waiting = nil
                lastUpdate = at
            case .internalUpdate, .statusChange, .delivery:
                lastInternal = at
            case .promise:
                if let due = past[index].due {
                    promises.append(OpenItem(id: past[index].id, madeAt: at, due: due, text: past[index].text))
                    if let keptBy = past[index].keptBy { promiseKeptBy[past[index].id] = keptBy }
                }
            case .obligation:
                obligations.append(OpenItem(id: past[index].id, madeAt: at, due: past[index].due, text: past[index].text))
            case .assignment, .note:
                break
            }
        }
        self.customerWaitingSince = waiting
        self.lastCustomerUpdate = lastUpdate
        self.lastInternalUpdate = lastInternal
        self.lastEscalationRequest = lastEscalation
        self.openPromises = promises
        self.openObligations = obligations
        self.firstSeen = firstSeen
        self.closedAt = subject.closedAt.flatMap { $0 <= now ? $0 : nil }
    }

    /// The fields that matchers read, as of `now`.
    public func view(of subject: Case, status: String?? = nil) -> CaseView {
        CaseView(
            kind: subject.kind, status: status ?? self.status, owner: owner, attributes: subject.attributes,
            isClosed: closedAt != nil)
    }
}

/// The fields of a case that matchers read.
public struct CaseView: Sendable {
    public var kind: String?
    public var status: String?
    public var owner: String?
    public var attributes: [String: String]
    public var isClosed: Bool

    public init(kind: String?, status: String?, owner: String?, attributes: [String: String], isClosed: Bool) {
        self.kind = kind
        self.status = status
        self.owner = owner
        self.attributes = attributes
        self.isClosed = isClosed
    }

    public func value(of field: CaseField) -> String? {
        switch field {
        case .kind: return kind
        case .status: return status
        case .owner: return owner
        case .attribute(let name): return attributes[name]
        }
    }
}
