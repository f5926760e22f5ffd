import EscalatorCore
import Foundation

/// The demo story (shared/context/the-problem.md): one order of 100 custom paperweights that went wrong for 54
/// days. Day 1 is Monday 2026-03-02 in Asia/Manila.
public enum DemoStory {
    public static let manila = TimeZone(identifier: "Asia/Manila")!

    /// "Day N HH:MM" in Asia/Manila.
    public static func day(_ n: Int, _ time: String) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = manila
        let hm = time.split(separator: ":").map { Int($0)! }
        let first = calendar.date(from: DateComponents(year: 2026, month: 3, day: 2, hour: hm[0], minute: hm[1]))!
        return calendar.date(byAdding: .day, value: n - 1, to: first)!
    }

    /// The order TT-1001 with everything that happened to it, as the order database would hold it.
    public static let order: Case = {
        var n = 0
        func a(_ kind: Activity.Kind, _ d: Int, _ t: String, _ text: String, actor: String? = nil, tag: String? = nil,
               status: String? = nil, person: String? = nil, due: Date? = nil, quantity: Int? = nil, ref: String? = nil,
               keptBy: Activity.Kind? = nil, id: String? = nil) -> Activity {
            n += 1
            return Activity(id: id ?? "A\(n)", kind: kind, at: day(d, t), actor: actor, text: text, tag: tag, status: status,
                            person: person, due: due, quantity: quantity, ref: ref, keptBy: keptBy)
        }
        return Case(
            id: "TT-1001", kind: "custom-order", status: "delivered", owner: "rep3", openedAt: day(1, "11:30"),
            promisedAt: day(17, "17:00"), attributes: ["sales_rep": "rep4"],
            activity: [
                a(.obligation, 1, "11:30", "Return the customer's sample", id: "SAMPLE"),
                a(.customerUpdate, 7, "16:23", "Lay-out sent for approval", actor: "rep2", tag: "proof_sent"),
                a(.customerMessage, 8, "17:27", "Approved", tag: "approval"),
                a(.internalUpdate, 8, "17:27", "Proceed", actor: "rep3"),
                a(.customerUpdate, 9, "10:00", "Project sent to our Production Department", actor: "rep4"),
                a(.statusChange, 9, "10:00", "", status: "in_production"),
                a(.promise, 9, "10:00", "At least 10 pieces express-delivered", due: day(17, "17:00"), id: "P-10BY17"),
                a(.customerMessage, 18, "18:27", "My items are overdue. Are they ready yet?"),
                a(.customerUpdate, 18, "18:27", "I'll update you.", actor: "rep3"),
                a(.customerUpdate, 19, "14:03", "We cannot make black borders", actor: "rep4"),
                a(.promise, 19, "14:03", "First 10 this week", due: day(20, "12:00"), id: "P-FIRST10"),
                a(.promise, 19, "14:03", "20 more next week", due: day(27, "12:00"), id: "P-NEXT20"),
                // Ownership becomes unclear: the order database still says rep3.
                a(.note, 19, "14:03", "I told Rep 5 to finish this", actor: "rep3"),
                a(.customerUpdate, 20, "09:25", "I will do my best to provide your items this week.", actor: "rep4"),
                a(.customerMessage, 40, "13:18", "Any news?"),
                a(.customerUpdate, 40, "13:18", "I'll give you an update once I get to production.", actor: "rep4"),
                a(.promise, 40, "13:18", "An update today", due: day(40, "17:00"), keptBy: .customerUpdate),
                a(.customerMessage, 41, "13:23", "24 hours since I last heard from you"),
                a(.customerUpdate, 41, "13:23", "The cutting machine broke.", actor: "rep4"),
                a(.customerMessage, 44, "14:06", "What's the likelihood of delivering 10 by Day 46?"),
                a(.customerUpdate, 46, "15:16", "Tomorrow.", actor: "rep3"),
                a(.promise, 46, "15:16", "10 pieces tomorrow", due: day(47, "17:00"), id: "P-TOMORROW"),
                a(.customerMessage, 49, "15:42", "Are you showing me that only 2 have been completed?"),
                a(.escalationRequest, 50, "08:55", "I want a meeting with your manager"),
                a(.customerUpdate, 50, "16:00", "Delivery tomorrow; the manager is free on Day 53", actor: "rep5"),
                a(.delivery, 51, "15:56", "30 pieces", quantity: 30, ref: "P-TOMORROW"),
                a(.delivery, 54, "15:57", "70 pieces", quantity: 70),
                a(.statusChange, 54, "15:57", "", status: "delivered"),
            ])
    }()


    /// The story's order and activity as reference-schema rows.
    public static var rows: (SyntheticOrders.OrderRow, [SyntheticOrders.ActivityRow]) {
        let row = SyntheticOrders.OrderRow(
            id: order.id, kind: order.kind ?? "custom-order", status: order.status ?? "open", owner: order.owner,
            salesRep: order.attributes["sales_rep"], openedAt: order.openedAt, promisedAt: order.promisedAt,
            closedAt: order.closedAt, updatedAt: order.activity.last?.at ?? order.openedAt)
        let activity = order.activity.map {
            SyntheticOrders.ActivityRow(
                id: $0.id, orderID: order.id, kind: $0.kind.rawValue, at: $0.at, actor: $0.actor, text: $0.text, tag: $0.tag,
                status: $0.status, person: $0.person, due: $0.due, quantity: $0.quantity, ref: $0.ref, keptBy: $0.keptBy?.rawValue)
        }
        return (row, activity)
    }

    /// The moments the customer had to chase: messages and the demand for a manager.
    public static var chases: [Activity] {
        order.activity.filter { ($0.kind == .customerMessage && $0.tag != "approval") || $0.kind == .escalationRequest }
    }
}
