import EscalatorCore
import Foundation
import GRDB
import Logging
import PostgresNIO

/// Realistic order databases for tests and benchmarks: a staff tree, N orders, about ten activity rows each.
/// The same seed gives the same data.
public struct SyntheticOrders: Sendable {
    public struct StaffRow: Sendable {
        public let id, name, email: String
        public let supervisor: String?
        public init(id: String, name: String, email: String, supervisor: String?) {
            self.id = id
            self.name = name
            self.email = email
            self.supervisor = supervisor
        }
    }
    public struct OrderRow: Sendable {
        public let id, kind, status: String
        public let owner, salesRep: String?
        public let openedAt: Date
        public let promisedAt, closedAt: Date?
        public let updatedAt: Date
    }
    public struct ActivityRow: Sendable {
        public let id, orderID, kind: String
        public let at: Date
        public let actor, text, tag, status, person: String?
        public let due: Date?
        public let quantity: Int?
        public let ref, keptBy: String?
    }

    public let cases: Int
    public let seed: UInt64
    /// Orders open within this many days before `end`.
    public let days: Int
    public let end: Date

    /// Owners to draw from instead of the generated reps (e.g. the people of a rule file).
    public let owners: [String]?
    /// Order ids are PREFIX-0000001 …
    public let prefix: String
    /// How many reps the orders are spread over: by default one per 500 orders, at least 4.
    public let reps: Int

    public init(
        cases: Int, seed: UInt64 = 1, days: Int = 60, end: Date = Date(timeIntervalSince1970: 1_777_593_600),
        owners: [String]? = nil, prefix: String = "ORD", reps: Int? = nil
    ) {
        self.reps = max(1, reps ?? max(4, cases / 500))
        self.cases = cases
        self.seed = seed
        self.days = days
        self.end = end
        self.owners = owners
        self.prefix = prefix
    }

    /// The generator the synthetic data is drawn from: the same seed gives the same orders everywhere.
    public typealias Random = SplitMix64

    /// 1 manager, a supervisor per 8 reps, and the reps.
    public var staff: [StaffRow] {
        let supervisors = max(1, reps / 8)
        var rows = [StaffRow(id: "mgr1", name: "Store Manager", email: "mgr1@shop.example", supervisor: nil)]
        for s in 1...supervisors {
            rows.append(StaffRow(id: "sup\(s)", name: "Supervisor \(s)", email: "sup\(s)@shop.example", supervisor: "mgr1"))
        }
        for r in 1...reps {
            rows.append(StaffRow(id: "rep\(r)", name: "Rep \(r)", email: "rep\(r)@shop.example", supervisor: "sup\((r - 1) % supervisors + 1)"))
        }
        return rows
    }

    /// Calls `body` with each order and its activity, in order.
    public func forEachOrder(_ body: (OrderRow, [ActivityRow]) throws -> Void) rethrows {
        var random = Random(state: seed)
        let kinds = ["custom-order", "custom-order", "repair", "standard"]
        let span = Double(days * 86_400)
        for n in 1...max(cases, 1) where n <= cases {
            let id = "\(prefix)-\(String(n).leftPadded(7))"
            let drawn = owners.map { $0[random.below($0.count)] } ?? "rep\(random.below(reps) + 1)"
            let owner = random.chance(0.01) ? nil : drawn
            let opened = end.addingTimeInterval(-span + Double(random.below(Int(span))))
            var t = opened
            var status = "open"
            var activity: [ActivityRow] = []
            var promisedAt: Date?
            let count = 6 + random.below(9)  // 6…14, about 10
            for a in 0..<count {
                t = t.addingTimeInterval(Double(1800 + random.below(2 * 86_400)))
                if t >= end { break }
                let aid = "\(id)-A\(a)"
                let roll = random.below(100)
                switch roll {
                case 0..<25:
                    activity.append(ActivityRow(id: aid, orderID: id, kind: "customer_message", at: t, actor: "customer", text: "Any news on my order?", tag: nil, status: nil, person: nil, due: nil, quantity: nil, ref: nil, keptBy: nil))
                case 25..<55:
                    activity.append(ActivityRow(id: aid, orderID: id, kind: "customer_update", at: t, actor: owner, text: "Your order is progressing.", tag: a == 0 ? "proof_sent" : nil, status: nil, person: nil, due: nil, quantity: nil, ref: nil, keptBy: nil))
                case 55..<70:
                    activity.append(ActivityRow(id: aid, orderID: id, kind: "internal_update", at: t, actor: owner, text: "Production note", tag: nil, status: nil, person: nil, due: nil, quantity: nil, ref: nil, keptBy: nil))
                case 70..<82:
                    status = ["in_production", "waiting_on_customer", "in_production"][random.below(3)]
                    activity.append(ActivityRow(id: aid, orderID: id, kind: "status_change", at: t, actor: owner, text: nil, tag: nil, status: status, person: nil, due: nil, quantity: nil, ref: nil, keptBy: nil))
                case 82..<92:
                    let due = t.addingTimeInterval(Double(86_400 * (1 + random.below(7))))
                    promisedAt = promisedAt ?? due
                    activity.append(ActivityRow(id: aid, orderID: id, kind: "promise", at: t, actor: owner, text: "Delivery by the date", tag: nil, status: nil, person: nil, due: due, quantity: nil, ref: nil, keptBy: nil))
                case 92..<95:
                    activity.append(ActivityRow(id: aid, orderID: id, kind: "obligation", at: t, actor: owner, text: "Return the sample", tag: nil, status: nil, person: nil, due: nil, quantity: nil, ref: nil, keptBy: nil))
                default:
                    activity.append(ActivityRow(id: aid, orderID: id, kind: "delivery", at: t, actor: owner, text: "Partial delivery", tag: nil, status: nil, person: nil, due: nil, quantity: 1 + random.below(50), ref: nil, keptBy: nil))
                }
            }
            var closed: Date?
            if random.chance(0.1), t < end {
                status = "delivered"
                closed = t
                activity.append(ActivityRow(id: "\(id)-D", orderID: id, kind: "status_change", at: t, actor: owner, text: nil, tag: nil, status: status, person: nil, due: nil, quantity: nil, ref: nil, keptBy: nil))
            }
            let order = OrderRow(
                id: id, kind: kinds[random.below(kinds.count)], status: status, owner: owner, salesRep: owners.map { $0[random.below($0.count)] } ?? "rep\(random.below(reps) + 1)",
                openedAt: opened, promisedAt: promisedAt, closedAt: closed, updatedAt: max(opened, activity.last?.at ?? opened))
            try body(order, activity)
        }
    }

    static func iso(_ date: Date) -> String { TimestampParser.format(date) }

    /// Writes a new SQLite database with the reference schema; `staffRows` replace the generated staff and
    /// `extra` orders are written first.
    public func writeSQLite(path: String, staffRows: [StaffRow]? = nil, extra: [(OrderRow, [ActivityRow])] = []) throws {
        if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: ReferenceSchema.sqlite)
            // Everyone first, then their supervisors: the supervisor column refers to staff.
            for person in staffRows ?? staff {
                try db.execute(sql: "INSERT INTO staff (id, name, email) VALUES (?, ?, ?)", arguments: [person.id, person.name, person.email])
            }
            for person in staffRows ?? staff where person.supervisor != nil {
                try db.execute(sql: "UPDATE staff SET supervisor = ? WHERE id = ?", arguments: [person.supervisor, person.id])
            }
            let insertOrder = try db.makeStatement(sql: "INSERT INTO orders (id, kind, status, owner, sales_rep, opened_at, promised_at, closed_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
            let insertActivity = try db.makeStatement(sql: "INSERT INTO order_activity (id, order_id, kind, at, actor, text, tag, status, person, due, quantity, ref, kept_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            func insert(_ order: OrderRow, _ activity: [ActivityRow]) throws {
                try insertOrder.execute(arguments: [order.id, order.kind, order.status, order.owner, order.salesRep, Self.iso(order.openedAt), order.promisedAt.map(Self.iso), order.closedAt.map(Self.iso), Self.iso(order.updatedAt)])
                for a in activity {
                    try insertActivity.execute(arguments: [a.id, a.orderID, a.kind, Self.iso(a.at), a.actor, a.text, a.tag, a.status, a.person, a.due.map(Self.iso), a.quantity, a.ref, a.keptBy])
                }
            }
            for (order, activity) in extra { try insert(order, activity) }
            try forEachOrder(insert)
        }
        try queue.close()
    }

    /// Writes the reference schema and the data into a PostgreSQL database, through a connection that may write
    /// (the generator is a tool; escalator itself never writes there).
    public func writePostgres(_ configuration: PostgresConnection.Configuration, logger: Logger = Logger(label: "escalator.generate")) async throws {
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        do {
            try await connection.query(PostgresQuery(unsafeSQL: "DROP TABLE IF EXISTS order_activity, orders, staff CASCADE"), logger: logger)
            for statement in Self.statements(ReferenceSchema.postgres) {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
            for person in staff {
                var binds = PostgresBindings()
                binds.append(person.id)
                binds.append(person.name)
                binds.append(person.email)
                binds.append(person.supervisor)
                try await connection.query(PostgresQuery(unsafeSQL: "INSERT INTO staff VALUES ($1, $2, $3, $4)", binds: binds), logger: logger)
            }
            var orders: [OrderRow] = []
            var activity: [ActivityRow] = []
            func flush() async throws {
                if !orders.isEmpty {
                    var binds = PostgresBindings()
                    var rows: [String] = []
                    for o in orders {
                        let base = binds.count
                        rows.append("(" + (1...9).map { "$\(base + $0)" }.joined(separator: ",") + ")")
                        binds.append(o.id); binds.append(o.kind); binds.append(o.status); binds.append(o.owner); binds.append(o.salesRep)
                        binds.append(o.openedAt); binds.append(o.promisedAt); binds.append(o.closedAt); binds.append(o.updatedAt)
                    }
                    try await connection.query(PostgresQuery(unsafeSQL: "INSERT INTO orders (id, kind, status, owner, sales_rep, opened_at, promised_at, closed_at, updated_at) VALUES " + rows.joined(separator: ","), binds: binds), logger: logger)
                    orders.removeAll(keepingCapacity: true)
                }
                while !activity.isEmpty {
                    let chunk = activity.prefix(4000)
                    activity.removeFirst(chunk.count)
                    var binds = PostgresBindings()
                    var rows: [String] = []
                    for a in chunk {
                        let base = binds.count
                        rows.append("(" + (1...13).map { "$\(base + $0)" }.joined(separator: ",") + ")")
                        binds.append(a.id); binds.append(a.orderID); binds.append(a.kind); binds.append(a.at); binds.append(a.actor)
                        binds.append(a.text); binds.append(a.tag); binds.append(a.status); binds.append(a.person); binds.append(a.due)
                        binds.append(a.quantity); binds.append(a.ref); binds.append(a.keptBy)
                    }
                    try await connection.query(PostgresQuery(unsafeSQL: "INSERT INTO order_activity (id, order_id, kind, at, actor, text, tag, status, person, due, quantity, ref, kept_by) VALUES " + rows.joined(separator: ","), binds: binds), logger: logger)
                }
            }
            var pending: [(OrderRow, [ActivityRow])] = []
            forEachOrder { pending.append(($0, $1)) }
            for (order, rows) in pending {
                orders.append(order)
                activity += rows
                if orders.count >= 5000 { try await flush() }
            }
            try await flush()
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Splits a schema script into statements, keeping `$$ … $$` bodies whole.
    static func statements(_ script: String) -> [String] {
        var out: [String] = []
        var current = ""
        var inBody = false
        for line in script.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("--") && !inBody { continue }
            current += line + "\n"
            if line.components(separatedBy: "$$").count % 2 == 0 { inBody.toggle() }
            if !inBody && trimmed.hasSuffix(";") {
                out.append(current.trimmingCharacters(in: .whitespacesAndNewlines))
                current = ""
            }
        }
        if !current.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { out.append(current) }
        return out
    }
}

extension SplitMix64 {
    /// A number in 0..<n.
    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    /// True with probability `p`.
    public mutating func chance(_ p: Double) -> Bool { Double(next() % 1_000_000) / 1_000_000 < p }
}
