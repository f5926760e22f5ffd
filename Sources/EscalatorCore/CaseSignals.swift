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
        // The daemon's cases have nothing after `now`: then the activity is used as it is, not copied.
        let lookingBack = subject.activity.contains { $0.at > now }
        let past = lookingBack ? subject.activity.filter { $0.at <= now } : subject.activity

        // Status: history when looking back, otherwise the row.
        let changes = past.filter { $0.kind == .statusChange }
        let anyChanges = subject.activity.contains { $0.kind == .statusChange }
        var history = [StatusSegment(since: subject.openedAt, status: anyChanges ? nil : subject.status)]
        for change in changes { history.append(StatusSegment(since: change.at, status: change.status)) }
        if !lookingBack, let rowStatus = subject.status, history.last?.status != rowStatus {
            let since = changes.last(where: { $0.status == rowStatus })?.at ?? changes.last?.at ?? subject.openedAt
            history.append(StatusSegment(since: max(since, history.last!.since), status: rowStatus))
        }
        self.statusHistory = history
        self.status = history.last!.status
        self.statusSince = history.last!.since

        // Owner: the last assignment when looking back, otherwise the row.
        let assignments = past.filter { $0.kind == .assignment }
        var owner = subject.owner
        var ownerSince = subject.openedAt
        if let last = assignments.last {
            if lookingBack || subject.owner == nil || subject.owner == last.person {
                owner = last.person
                ownerSince = last.at
            } else {
                ownerSince = assignments.last(where: { $0.person == subject.owner })?.at ?? last.at
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
        var firstSeen: [String: Date] = [:]
        for item in past {
            if firstSeen[item.kind.rawValue] == nil { firstSeen[item.kind.rawValue] = item.at }
            if let tag = item.tag, firstSeen[tag] == nil { firstSeen[tag] = item.at }
            if let ref = item.ref {
                promises.removeAll { $0.id == ref }
                obligations.removeAll { $0.id == ref }
            }
            promises.removeAll { promiseKeptBy[$0.id] == item.kind && $0.madeAt < item.at }
            switch item.kind {
            case .customerMessage:
                if waiting == nil { waiting = item.at }
            case .escalationRequest:
                if waiting == nil { waiting = item.at }
                lastEscalation = item.at
            case .customerUpdate:
                waiting = nil
                lastUpdate = item.at
            case .internalUpdate, .statusChange, .delivery:
                lastInternal = item.at
            case .promise:
                if item.due != nil {
                    promises.append(OpenItem(id: item.id, madeAt: item.at, due: item.due, text: item.text))
                    if let kind = item.keptBy { promiseKeptBy[item.id] = kind }
                }
            case .obligation:
                obligations.append(OpenItem(id: item.id, madeAt: item.at, due: item.due, text: item.text))
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
