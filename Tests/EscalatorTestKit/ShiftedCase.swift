import EscalatorCore
import Foundation

extension Case {
    /// This case under another id, with every time in it moved by `seconds`: copies of one story that open at
    /// different moments.
    public func shifted(by seconds: TimeInterval, id: String) -> Case {
        Case(
            id: id, kind: kind, status: status, owner: owner, openedAt: openedAt + seconds,
            promisedAt: promisedAt.map { $0 + seconds }, closedAt: closedAt.map { $0 + seconds }, attributes: attributes,
            activity: activity.map {
                Activity(
                    id: $0.id, kind: $0.kind, at: $0.at + seconds, actor: $0.actor, text: $0.text, tag: $0.tag, status: $0.status,
                    person: $0.person, due: $0.due.map { $0 + seconds }, quantity: $0.quantity, ref: $0.ref, keptBy: $0.keptBy)
            })
    }
}
