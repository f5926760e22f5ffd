import Foundation

/// One order, request or ticket, as read from the source database.
public struct Case: Sendable, Hashable {
    public var id: String
    public var kind: String?
    public var status: String?
    /// The Responsible person's directory id, as the case row has it.
    public var owner: String?
    public var openedAt: Date
    public var promisedAt: Date?
    public var closedAt: Date?
    /// Free columns of the case row, by column name.
    public var attributes: [String: String]
    /// Everything dated that happened to the case. The engine reads it in time order.
    public var activity: [Activity]

    public init(
        id: String, kind: String? = nil, status: String? = nil, owner: String? = nil, openedAt: Date,
        promisedAt: Date? = nil, closedAt: Date? = nil, attributes: [String: String] = [:], activity: [Activity] = []
    ) {
        self.id = id
        self.kind = kind
        self.status = status
        self.owner = owner
        self.openedAt = openedAt
        self.promisedAt = promisedAt
        self.closedAt = closedAt
        self.attributes = attributes
        self.activity = activity.sorted { ($0.at, $0.id) < ($1.at, $1.id) }
    }
}

/// A dated thing that happened to a case.
public struct Activity: Sendable, Hashable {
    public enum Kind: String, Sendable, CaseIterable {
        /// The customer wrote to the company.
        case customerMessage = "customer_message"
        /// The company wrote to the customer.
        case customerUpdate = "customer_update"
        /// Staff recorded progress inside the company.
        case internalUpdate = "internal_update"
        /// The case moved to `status`.
        case statusChange = "status_change"
        /// The company promised something by `due`.
        case promise
        /// Goods were delivered, `quantity` of them if known.
        case delivery
        /// The case was given to `person`.
        case assignment
        /// The customer asked for a manager.
        case escalationRequest = "escalation_request"
        /// Something to hand back or do before the case closes (e.g. return the customer's sample).
        case obligation
        /// A remark with no effect on any clock.
        case note
    }

    public var id: String
    public var kind: Kind
    public var at: Date
    /// Who did it (a directory id or a free name).
    public var actor: String?
    public var text: String?
    /// The fields most rows leave empty, kept out of line: a case holds every activity row of its history, and
    /// the daemon holds every open case.
    private var details: Details?

    /// A free label, matched by conditions such as `until: activity.proof_sent`.
    public var tag: String? {
        get { details?.fields.tag }
        set { change { $0.tag = newValue } }
    }
    /// For `status_change`: the new status.
    public var status: String? {
        get { details?.fields.status }
        set { change { $0.status = newValue } }
    }
    /// For `assignment`: the new owner.
    public var person: String? {
        get { details?.fields.person }
        set { change { $0.person = newValue } }
    }
    /// For `promise` (and optionally `obligation`): when it is due.
    public var due: Date? {
        get { details?.fields.due }
        set { change { $0.due = newValue } }
    }
    /// For `delivery`: how many items.
    public var quantity: Int? {
        get { details?.fields.quantity }
        set { change { $0.quantity = newValue } }
    }
    /// The promise or obligation this activity keeps, resolves or (for a promise) replaces.
    public var ref: String? {
        get { details?.fields.ref }
        set { change { $0.ref = newValue } }
    }
    /// For `promise`: the first later activity of this kind keeps the promise (e.g. a promised update is kept by
    /// the next `customer_update`). Without it, only an activity whose `ref` names the promise keeps it.
    public var keptBy: Kind? {
        get { details?.fields.keptBy }
        set { change { $0.keptBy = newValue } }
    }

    public init(
        id: String, kind: Kind, at: Date, actor: String? = nil, text: String? = nil, tag: String? = nil,
        status: String? = nil, person: String? = nil, due: Date? = nil, quantity: Int? = nil, ref: String? = nil,
        keptBy: Kind? = nil
    ) {
        self.id = id
        self.kind = kind
        self.at = at
        self.actor = actor
        self.text = text
        let fields = Fields(tag: tag, status: status, person: person, due: due, quantity: quantity, ref: ref, keptBy: keptBy)
        self.details = fields.isEmpty ? nil : Details(fields)
    }

    struct Fields: Hashable, Sendable {
        var tag: String?
        var status: String?
        var person: String?
        var due: Date?
        var quantity: Int?
        var ref: String?
        var keptBy: Kind?

        var isEmpty: Bool { self == Fields() }
    }

    final class Details: Sendable {
        let fields: Fields
        init(_ fields: Fields) { self.fields = fields }
    }

    private mutating func change(_ edit: (inout Fields) -> Void) {
        var fields = details?.fields ?? Fields()
        edit(&fields)
        details = fields.isEmpty ? nil : Details(fields)
    }

    public static func == (a: Activity, b: Activity) -> Bool {
        a.id == b.id && a.kind == b.kind && a.at == b.at && a.actor == b.actor && a.text == b.text
            && (a.details?.fields ?? Fields()) == (b.details?.fields ?? Fields())
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(id)
        hasher.combine(kind)
        hasher.combine(at)
        hasher.combine(actor)
        hasher.combine(text)
        hasher.combine(details?.fields ?? Fields())
    }
}
