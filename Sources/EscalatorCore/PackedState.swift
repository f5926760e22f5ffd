import Foundation

/// An escalation state held as one byte buffer, for a daemon that keeps the state of every open case.
///
/// As a struct of arrays and strings, one case's state took about 2.9 KB (a heap block for every occurrence's
/// clock, its taken steps, its recipients and each notice id); packed it takes a few hundred bytes, in memory or on
/// a `Shelf`. Only the process that packed it reads it (a shelf's file is unlinked and not kept across runs), so
/// the layout carries no version.
///
/// Layout: unsigned LEB128 counts and integers (signed ones zigzagged), a time as its whole seconds since the
/// reference date or else the 8 bytes of its `timeIntervalSinceReferenceDate` (either way it comes back exactly),
/// text as a count and its UTF-8, an optional as a 0 or 1 byte before the value. A taken step's notice id is
/// stored as a tag when it is the one the engine gives it (`Occurrence.noticeID`), else in full.
public struct PackedState: Sendable {
    let storage: PackedStorage

    public init(_ state: EscalationState, caseID: String) {
        var writer = PackWriter()
        writer.count(state.occurrences.count)
        for occurrence in state.occurrences {
            writer.text(occurrence.policy)
            writer.text(occurrence.clock)
            writer.integer(occurrence.ordinal)
            writer.optionalText(occurrence.subject)
            writer.time(occurrence.startedAt)
            writer.optionalTime(occurrence.breachAt)
            writer.optionalTime(occurrence.clearedAt)
            writer.count(occurrence.taken.count)
            for taken in occurrence.taken {
                writer.integer(taken.step)
                writer.integer(taken.repeatNumber)
                writer.time(taken.dueAt)
                writer.time(taken.takenAt)
                switch taken.noticeID {
                case nil:
                    writer.byte(0)
                case let id? where id == occurrence.noticeID(caseID: caseID, step: taken.step, repeatNumber: taken.repeatNumber):
                    writer.byte(1)
                case let id?:
                    writer.byte(2)
                    writer.text(id)
                }
            }
            writer.count(occurrence.notified.count)
            for person in occurrence.notified { writer.text(person) }
        }
        writer.count(state.acknowledgements.count)
        for ack in state.acknowledgements {
            writer.optionalText(ack.policy)
            writer.text(ack.by)
            writer.time(ack.at)
            writer.time(ack.until)
            writer.optionalText(ack.note)
        }
        // An exact copy: the writer's buffer has grown by doubling.
        storage = .memory(writer.bytes.withUnsafeBufferPointer { Array($0) })
    }

    private init(storage: PackedStorage) { self.storage = storage }

    /// The state as it was packed.
    public func unpacked(caseID: String) -> EscalationState {
        var reader = PackReader(bytes: storage.bytes)
        var occurrences: [EscalationState.Occurrence] = []
        let occurrenceCount = reader.count()
        occurrences.reserveCapacity(occurrenceCount)
        for _ in 0..<occurrenceCount {
            let policy = reader.text()
            let clock = reader.text()
            let ordinal = reader.integer()
            let subject = reader.optionalText()
            let startedAt = reader.time()
            let breachAt = reader.optionalTime()
            let clearedAt = reader.optionalTime()
            var occurrence = EscalationState.Occurrence(
                policy: policy, clock: clock, ordinal: ordinal, subject: subject, startedAt: startedAt, breachAt: breachAt,
                taken: [], notified: [], clearedAt: clearedAt)
            let takenCount = reader.count()
            occurrence.taken.reserveCapacity(takenCount)
            for _ in 0..<takenCount {
                let step = reader.integer()
                let repeatNumber = reader.integer()
                let dueAt = reader.time()
                let takenAt = reader.time()
                var taken = EscalationState.TakenStep(step: step, repeatNumber: repeatNumber, dueAt: dueAt, takenAt: takenAt, noticeID: nil)
                switch reader.byte() {
                case 1: taken = taken.with(noticeID: occurrence.noticeID(caseID: caseID, step: step, repeatNumber: repeatNumber))
                case 2: taken = taken.with(noticeID: reader.text())
                default: break
                }
                occurrence.taken.append(taken)
            }
            let notifiedCount = reader.count()
            occurrence.notified.reserveCapacity(notifiedCount)
            for _ in 0..<notifiedCount { occurrence.notified.append(reader.text()) }
            occurrences.append(occurrence)
        }
        var acknowledgements: [Acknowledgement] = []
        for _ in 0..<reader.count() {
            let policy = reader.optionalText()
            let by = reader.text()
            let at = reader.time()
            let until = reader.time()
            let note = reader.optionalText()
            acknowledgements.append(Acknowledgement(policy: policy, by: by, at: at, until: until, note: note))
        }
        return EscalationState(occurrences: occurrences, acknowledgements: acknowledgements)
    }

    /// Whether every occurrence has cleared, read without unpacking.
    public var isAllCleared: Bool {
        var allCleared = true
        scanOccurrences { _, _, cleared in
            if !cleared { allCleared = false }
        }
        return allCleared
    }

    /// Calls `body` with each occurrence's policy (as UTF-8), breach time and whether it has cleared, reading the
    /// bytes in place: the daemon's breached count looks at every held case.
    public func scanOccurrences(_ body: (ArraySlice<UInt8>, Date?, Bool) -> Void) {
        var reader = PackReader(bytes: storage.bytes)
        for _ in 0..<reader.count() {
            let policy = reader.textBytes()
            reader.skipText()
            _ = reader.integer()
            if reader.byte() == 1 { reader.skipText() }
            _ = reader.time()
            let breachAt = reader.optionalTime()
            let cleared = reader.byte() == 1
            if cleared { _ = reader.time() }
            for _ in 0..<reader.count() {
                _ = reader.integer()
                _ = reader.integer()
                _ = reader.time()
                _ = reader.time()
                if reader.byte() == 2 { reader.skipText() }
            }
            for _ in 0..<reader.count() { reader.skipText() }
            body(policy, breachAt, cleared)
        }
    }

    /// How many bytes it packs.
    public var size: Int { storage.count }
}

extension PackedState: ShelvableRecord {
    public func shelved(on shelf: Shelf) -> PackedState {
        storage.isOn(shelf) ? self : PackedState(storage: storage.shelved(on: shelf))
    }
}

/// The encoding `PackedState` and `PackedCase` share (see `PackedState`).
struct PackWriter {
    var bytes: [UInt8] = []

    mutating func byte(_ value: UInt8) { bytes.append(value) }

    mutating func count(_ value: Int) { unsigned(UInt64(value)) }

    mutating func unsigned(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    mutating func integer(_ value: Int) {
        let wide = Int64(value)
        unsigned(UInt64(bitPattern: (wide << 1) ^ (wide >> 63)))
    }

    /// A whole second (nearly every time the engine records) as a zigzag count, shifted left with a 0 bit;
    /// any other time as 1 and its 8 bytes.
    mutating func time(_ date: Date) {
        let seconds = date.timeIntervalSinceReferenceDate
        if seconds == seconds.rounded(), abs(seconds) < 0x1p52 {
            let wide = Int64(seconds)
            unsigned(UInt64(bitPattern: (wide << 1) ^ (wide >> 63)) << 1)
        } else {
            unsigned(1)
            withUnsafeBytes(of: seconds.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        }
    }

    mutating func text(_ value: String) {
        count(value.utf8.count)
        bytes.append(contentsOf: value.utf8)
    }

    mutating func optionalText(_ value: String?) {
        byte(value == nil ? 0 : 1)
        if let value { text(value) }
    }

    mutating func optionalTime(_ value: Date?) {
        byte(value == nil ? 0 : 1)
        if let value { time(value) }
    }
}

struct PackReader {
    let bytes: [UInt8]
    var position = 0

    mutating func byte() -> UInt8 {
        defer { position += 1 }
        return bytes[position]
    }

    mutating func count() -> Int { Int(unsigned()) }

    mutating func unsigned() -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let next = byte()
            value |= UInt64(next & 0x7F) << shift
            if next < 0x80 { return value }
            shift += 7
        }
    }

    mutating func integer() -> Int {
        let raw = unsigned()
        return Int(Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1))))
    }

    mutating func time() -> Date {
        let tag = unsigned()
        if tag & 1 == 0 {
            let raw = tag >> 1
            return Date(timeIntervalSinceReferenceDate: Double(Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))))
        }
        var bits: UInt64 = 0
        for index in 0..<8 { bits |= UInt64(bytes[position + index]) << (8 * UInt64(index)) }
        position += 8
        return Date(timeIntervalSinceReferenceDate: Double(bitPattern: bits))
    }

    mutating func textBytes() -> ArraySlice<UInt8> {
        let length = count()
        defer { position += length }
        return bytes[position..<(position + length)]
    }

    mutating func skipText() { position += count() }

    mutating func text() -> String { String(decoding: textBytes(), as: UTF8.self) }

    mutating func optionalText() -> String? { byte() == 1 ? text() : nil }

    mutating func optionalTime() -> Date? { byte() == 1 ? time() : nil }
}

extension EscalationState.TakenStep {
    func with(noticeID: String?) -> Self {
        Self(step: step, repeatNumber: repeatNumber, dueAt: dueAt, takenAt: takenAt, noticeID: noticeID)
    }
}
