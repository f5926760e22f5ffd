import EscalatorCore
import Foundation

/// An instant given as local wall-clock time "YYYY-MM-DD HH:MM" in a time zone.
func at(_ text: String, _ zone: String = "Asia/Manila") -> Date {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: zone)!
    formatter.dateFormat = text.count > 16 ? "yyyy-MM-dd HH:mm:ss" : "yyyy-MM-dd HH:mm"
    guard let date = formatter.date(from: text) else { fatalError("bad test time \(text)") }
    return date
}

/// An instant given in UTC, "YYYY-MM-DDTHH:MM:SSZ".
func utc(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

/// Formats an instant as local "YYYY-MM-DD HH:MM" for readable assertions.
func local(_ date: Date?, _ zone: String = "Asia/Manila") -> String {
    guard let date else { return "nil" }
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: zone)!
    formatter.dateFormat = "yyyy-MM-dd HH:mm"
    return formatter.string(from: date)
}

func hours(_ ranges: String) -> [BusinessCalendar.TimeRange] {
    ranges.split(separator: ",").map { piece in
        let parts = piece.trimmingCharacters(in: .whitespaces).split(separator: "-").map { part -> Int in
            let hm = part.split(separator: ":").map { Int($0)! }
            return hm[0] * 60 + hm[1]
        }
        return BusinessCalendar.TimeRange(startMinute: parts[0], endMinute: parts[1])
    }
}

/// Manila store hours: Mon–Fri 08:00–17:00, Sat 09:00–12:00, Sunday closed.
let storeHours = BusinessCalendar(
    name: "store-hours", timeZone: TimeZone(identifier: "Asia/Manila")!,
    weekly: Array(repeating: hours("08:00-17:00"), count: 5) + [hours("09:00-12:00"), []],
    holidays: [LocalDate(iso: "2026-04-02")!, LocalDate(iso: "2026-04-03")!])

let people = Directory([
    Person(id: "rep3", name: "Company Rep 3", email: "rep3@trophy.example", supervisor: "rep5"),
    Person(id: "rep4", name: "Company Rep 4", email: "rep4@trophy.example", supervisor: "rep5"),
    Person(id: "rep5", name: "Supervisor", email: "sup@trophy.example", supervisor: "mgr1"),
    Person(id: "mgr1", name: "Store Manager", email: "manager@trophy.example", calendar: "store-hours"),
    Person(id: "prod", name: "Production Lead", email: "production@trophy.example", supervisor: "mgr1"),
])

let standardLadder = Ladder(
    steps: [
        .init(anchor: .warn, to: [.role(.responsible)]),
        .init(anchor: .breach, to: [.role(.responsible)], cc: [.role(.supervisor)]),
        .init(anchor: .breach, offset: Span(4, .hours, business: true), to: [.role(.supervisor)], cc: [.role(.responsible)]),
        .init(anchor: .breach, offset: Span(1, .days, business: true), to: [.role(.manager)], cc: [.role(.supervisor)], quietHours: false),
    ],
    repeatEvery: Span(1, .days, business: true))

func rules(_ policies: [Policy], fallbackOwner: String? = "rep5") -> Rules {
    Rules(
        calendars: ["store-hours": storeHours, "24x7": .alwaysOpen()], directory: people,
        raci: Raci(
            byKind: ["custom-order": RaciEntry(accountable: [.person("mgr1")], consulted: [.person("prod")])],
            fallback: RaciEntry(accountable: [.person("mgr1")]), fallbackOwner: fallbackOwner),
        policies: policies)
}

/// Runs the engine on a virtual clock from `from` to `to`, every `step` seconds, carrying the state along.
func replay(
    _ subject: Case, _ rules: Rules, from: Date, to: Date, step: TimeInterval = 900,
    state: EscalationState = .empty
) -> (notices: [Notice], state: EscalationState) {
    var state = state
    var notices: [Notice] = []
    var now = from
    while now <= to {
        let result = Engine.evaluate(subject, rules: rules, state: state, now: now)
        notices += result.notices
        state = result.state
        now += step
    }
    return (notices, state)
}

extension Notice {
    /// "2026-03-04 17:00 breach step2 → rep3 cc rep5": one line per notice for table assertions.
    var line: String {
        let cc = self.cc.isEmpty ? "" : " cc " + self.cc.map(\.id).joined(separator: ",")
        let label = repeatNumber > 0 ? "step\(step).r\(repeatNumber)" : "step\(step)"
        return "\(local(dueAt)) \(trigger.rawValue) \(label) → \(to.map(\.id).joined(separator: ","))\(cc)"
    }
}
