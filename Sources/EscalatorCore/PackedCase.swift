import Foundation

/// A case with all its activity held as one byte buffer, in the encoding of `PackedState`: how the daemon keeps
/// the open cases between evaluations. As structs, a case with ten activity rows took about 2.8 KB (a heap block
/// for every longer text, every row's optional fields and every array); packed it takes about the bytes of its
/// text, in memory or on a `Shelf`. The id and `closedAt` stay outside the bytes, since the daemon and the poller
/// read them for every case.
public struct PackedCase: Sendable {
    public let id: String
    public let closedAt: Date?
    let storage: PackedStorage

    public init(_ subject: Case) {
        id = subject.id
        closedAt = subject.closedAt
        var writer = PackWriter()
        writer.optionalText(subject.kind)
        writer.optionalText(subject.status)
        writer.optionalText(subject.owner)
        writer.time(subject.openedAt)
        writer.optionalTime(subject.promisedAt)
        writer.count(subject.attributes.count)
        for (name, value) in subject.attributes.sorted(by: { $0.key < $1.key }) {
            writer.text(name)
            writer.text(value)
        }
        writer.count(subject.activity.count)
        for item in subject.activity {
            writer.text(item.id)
            writer.count(Self.kinds.firstIndex(of: item.kind)!)
            writer.time(item.at)
            writer.optionalText(item.actor)
            writer.optionalText(item.text)
            writer.optionalText(item.tag)
            writer.optionalText(item.status)
            writer.optionalText(item.person)
            writer.optionalTime(item.due)
            writer.byte(item.quantity == nil ? 0 : 1)
            if let quantity = item.quantity { writer.integer(quantity) }
            writer.optionalText(item.ref)
            writer.count(item.keptBy.map { Self.kinds.firstIndex(of: $0)! + 1 } ?? 0)
        }
        storage = .memory(writer.bytes.withUnsafeBufferPointer { Array($0) })
    }

    private init(id: String, closedAt: Date?, storage: PackedStorage) {
        self.id = id
        self.closedAt = closedAt
        self.storage = storage
    }

    static let kinds = Activity.Kind.allCases

    /// The case as it was packed, its activity in the same order.
    public func unpacked() -> Case {
        var reader = PackReader(bytes: storage.bytes)
        let kind = reader.optionalText()
        let status = reader.optionalText()
        let owner = reader.optionalText()
        let openedAt = reader.time()
        let promisedAt = reader.optionalTime()
        var subject = Case(id: id, kind: kind, status: status, owner: owner, openedAt: openedAt, promisedAt: promisedAt, closedAt: closedAt)
        let attributeCount = reader.count()
        if attributeCount > 0 {
            var attributes: [String: String] = [:]
            attributes.reserveCapacity(attributeCount)
            for _ in 0..<attributeCount {
                let name = reader.text()
                attributes[name] = reader.text()
            }
            subject.attributes = attributes
        }
        let activityCount = reader.count()
        var activity: [Activity] = []
        activity.reserveCapacity(activityCount)
        for _ in 0..<activityCount {
            let id = reader.text()
            let kind = Self.kinds[reader.count()]
            let at = reader.time()
            let actor = reader.optionalText()
            let text = reader.optionalText()
            let tag = reader.optionalText()
            let status = reader.optionalText()
            let person = reader.optionalText()
            let due = reader.optionalTime()
            let quantity = reader.byte() == 1 ? reader.integer() : nil
            let ref = reader.optionalText()
            let keptBy = reader.count()
            activity.append(
                Activity(
                    id: id, kind: kind, at: at, actor: actor, text: text, tag: tag, status: status, person: person, due: due,
                    quantity: quantity, ref: ref, keptBy: keptBy == 0 ? nil : Self.kinds[keptBy - 1]))
        }
        // Assigned, not passed to the initializer: the rows are in the order they were packed, already sorted.
        subject.activity = activity
        return subject
    }

    /// How many bytes it packs.
    public var size: Int { storage.count }
}

extension PackedCase: ShelvableRecord {
    public func shelved(on shelf: Shelf) -> PackedCase {
        storage.isOn(shelf) ? self : PackedCase(id: id, closedAt: closedAt, storage: storage.shelved(on: shelf))
    }
}
