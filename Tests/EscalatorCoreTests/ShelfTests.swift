@testable import EscalatorCore
import Foundation
import Testing

@Suite struct ShelfTests {
    /// Seeded records of every size from empty to past a stretch (1 MB) come back byte for byte, in any order,
    /// whether they are still in the buffer or written.
    @Test func everyRecordComesBackExactly() throws {
        let shelf = try Shelf(directory: NSTemporaryDirectory())
        var random = SplitMix64(state: 99)
        var records: [(Shelf.Ref, [UInt8])] = []
        var total = 0
        for index in 0..<3_000 {
            let length = index % 500 == 7 ? Shelf.stretch + Int(random.next() % 1000) : Int(random.next() % 2_000)
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            records.append((shelf.put(bytes), bytes))
            total += length
            // Some read back at once, from the buffer.
            if index % 7 == 0 { #expect(shelf.read(records[index].0) == bytes) }
        }
        #expect(shelf.size == total)
        var order = Array(records.indices)
        for index in order.indices.reversed() { order.swapAt(index, Int(random.next() % UInt64(index + 1))) }
        for index in order {
            #expect(shelf.read(records[index].0) == records[index].1, "record \(index)")
        }
        #expect(shelf.failure == nil && shelf.heldBytes == 0)
    }

    /// The bytes are in a file, which is unlinked from the start: the process's descriptor table shows a deleted
    /// scratch file in the directory, as long as what was written, and the directory shows nothing.
    @Test func theRecordsAreInAnUnlinkedFile() throws {
        let directory = NSTemporaryDirectory() + "shelf-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func scratchFiles() throws -> [(link: String, size: Int)] {
            try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").compactMap { fd in
                guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)"),
                    target.hasPrefix(directory + "/.escalator-scratch.") else { return nil }
                var info = stat()
                guard stat("/proc/self/fd/\(fd)", &info) == 0 else { return nil }
                return (target, Int(info.st_size))
            }
        }
        let shelf = try Shelf(directory: directory)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
        for _ in 0..<3 { _ = shelf.put([UInt8](repeating: 0xA5, count: 700_000)) }
        let files = try scratchFiles()
        #expect(files.count == 1)
        #expect(files.first?.link.hasSuffix("(deleted)") == true)
        // Two stretches were written; the third record waits in the buffer.
        #expect(files.first?.size == 1_400_000)
        #expect(shelf.size == 2_100_000)
    }

    /// A full disk loses nothing: `/dev/full` refuses every write with ENOSPC (and reads back zeros), so every record
    /// must come back from memory, and the shelf says why.
    @Test func aFullDiskKeepsTheRecordsInMemoryAndSaysSo() throws {
        let fd = open("/dev/full", O_RDWR)
        try #require(fd >= 0)
        let shelf = Shelf(descriptor: fd, directory: "/dev")
        var random = SplitMix64(state: 5)
        var records: [(Shelf.Ref, [UInt8])] = []
        for _ in 0..<4_000 {
            let bytes = (0..<Int(1 + random.next() % 1_500)).map { _ in UInt8(truncatingIfNeeded: random.next() | 1) }
            records.append((shelf.put(bytes), bytes))
        }
        for (ref, bytes) in records { #expect(shelf.read(ref) == bytes) }
        let failure = try #require(shelf.failure)
        #expect(failure.message == String(cString: strerror(ENOSPC)))
        #expect(failure.count >= 2)
        // Every stretch the shelf tried to write is held: all it was given but what still waits in the buffer, which
        // is less than a stretch.
        #expect(shelf.heldBytes <= shelf.size && shelf.heldBytes > shelf.size - Shelf.stretch, "\(shelf.heldBytes) of \(shelf.size)")
    }

    /// A record set, replaced or dropped changes the live count by its size; once the dropped bytes outgrow the live
    /// ones and 64 MB, the records move to a fresh shelf holding only them, and still read back the same.
    @Test func recordsAreCountedAndMovedToAFreshShelf() throws {
        let shelf = try Shelf(directory: NSTemporaryDirectory())
        var records = ShelvedRecords<PackedCase>(shelf: shelf)
        let opened = Date(timeIntervalSince1970: 1_772_355_600)
        func subject(_ id: String, _ rows: Int) -> Case {
            Case(
                id: id, kind: "order", status: "open", owner: "rep3", openedAt: opened,
                activity: (0..<rows).map { Activity(id: "\(id)-\($0)", kind: .customerMessage, at: opened, text: String(repeating: "x", count: 1_000)) })
        }
        records["a"] = PackedCase(subject("a", 1))
        records["b"] = PackedCase(subject("b", 2))
        let sizes = [PackedCase(subject("a", 1)).size, PackedCase(subject("b", 2)).size]
        #expect(records.liveBytes == sizes[0] + sizes[1])
        records["b"] = nil
        #expect(records.liveBytes == sizes[0] && records.count == 1)
        #expect(try records.compactIfNeeded() == false)
        // 70 MB of replaced versions of one case.
        for _ in 0..<70 { records["c"] = PackedCase(subject("c", 1_000)) }
        let live = records.liveBytes
        #expect(live == sizes[0] + PackedCase(subject("c", 1_000)).size)
        #expect(shelf.size > 2 * live + (64 << 20))
        #expect(try records.compactIfNeeded())
        let fresh = try #require(records.shelf)
        #expect(fresh !== shelf && fresh.size == live && records.liveBytes == live)
        #expect(records["a"]?.unpacked() == subject("a", 1) && records["c"]?.unpacked() == subject("c", 1_000))
    }
}
