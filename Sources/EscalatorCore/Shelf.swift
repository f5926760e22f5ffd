import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Packed records (`PackedCase`, `PackedState`) kept in a scratch file instead of the heap: a daemon holding a
/// million open cases keeps in memory only where each record lies (the shelf, an offset and a length), and reads a
/// record back when its case is evaluated. Reads go through `pread`, so what the kernel caches of the file is page cache, reclaimable and not
/// the process's resident memory.
///
/// The file is created in a directory the caller names (the daemon's state directory) and unlinked at once: nothing
/// is left behind however the process ends, and a restart rebuilds it from the order database and the store. It is
/// only appended to. A record replaced or dropped leaves its old bytes behind; the owner moves what it still holds
/// onto a fresh shelf when the dropped part outgrows the live one (`ShelvedRecords.compactIfNeeded`), and the old
/// file goes when its last record does.
///
/// A full disk loses nothing: a stretch the disk refuses is kept in memory, and `failure` says why, so the daemon
/// can report it. The shelf tries the disk again with the next stretch.
public final class Shelf: @unchecked Sendable {
    /// Where a record lies in the file.
    public struct Ref: Sendable, Hashable {
        let offset: Int
        let length: Int
    }

    /// Records are gathered in memory and written a stretch of this many bytes at a time.
    static let stretch = 1 << 20

    private let lock = NSLock()
    private let descriptor: Int32
    /// Where the file was made, for a fresh shelf beside it.
    public let directory: String
    /// Bytes not written yet; they belong at `written` in the file.
    private var buffer: [UInt8] = []
    private var written = 0
    /// Stretches the disk refused, by where they belong in the file, in order.
    private var held: [(start: Int, bytes: [UInt8])] = []
    private var heldTotal = 0
    private var lastFailure: String?
    private var failureCount = 0

    /// Makes an unlinked scratch file in `directory`.
    public init(directory: String) throws {
        var template = Array("\(directory)/.escalator-scratch.XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw ShelfError("cannot make a scratch file in \(directory): \(String(cString: strerror(errno)))")
        }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        unlink(path)
        descriptor = fd
        self.directory = directory
        buffer.reserveCapacity(Self.stretch)
    }

    /// A shelf on an open descriptor, which it closes: for tests that need a disk that is full (`/dev/full`).
    init(descriptor: Int32, directory: String) {
        self.descriptor = descriptor
        self.directory = directory
    }

    deinit { close(descriptor) }

    /// A new, empty shelf in the same directory.
    public func fresh() throws -> Shelf { try Shelf(directory: directory) }

    /// Bytes put on the shelf so far, the dropped ones included.
    public var size: Int { lock.withLock { written + buffer.count } }

    /// Bytes the disk refused, held in memory.
    public var heldBytes: Int { lock.withLock { heldTotal } }

    /// Why the disk last refused a stretch, and how many times it has; nil and 0 if it never did.
    public var failure: (message: String, count: Int)? {
        lock.withLock { lastFailure.map { ($0, failureCount) } }
    }

    /// Appends a record.
    public func put(_ bytes: [UInt8]) -> Ref {
        lock.withLock {
            let ref = Ref(offset: written + buffer.count, length: bytes.count)
            buffer.append(contentsOf: bytes)
            if buffer.count >= Self.stretch { flush() }
            return ref
        }
    }

    /// A record's bytes.
    public func read(_ ref: Ref) -> [UInt8] {
        let inMemory: [UInt8]? = lock.withLock {
            if ref.offset >= written {
                let start = ref.offset - written
                return Array(buffer[start..<(start + ref.length)])
            }
            return held.isEmpty ? nil : heldBytes(ref)
        }
        if let inMemory { return inMemory }
        // Bytes below `written` that the disk took are never written again, so they are read without the lock:
        // the evaluating cores read their cases and states at once.
        return Array(unsafeUninitializedCapacity: ref.length) { out, count in
            var done = 0
            var attempts = 0
            while done < ref.length {
                let got = pread(descriptor, out.baseAddress! + done, ref.length - done, off_t(ref.offset + done))
                if got > 0 {
                    done += got
                } else if got < 0 && errno == EINTR {
                    continue
                } else {
                    // The daemon's own file on its own disk cannot be read back: an I/O error of that disk. Nothing
                    // durable is lost (states and notices are in the store), and a restart rebuilds the file, so
                    // the process stops here with the reason rather than escalating from a case it cannot see.
                    attempts += 1
                    if attempts < 3 { continue }
                    let reason = got < 0 ? String(cString: strerror(errno)) : "the file ends early"
                    fatalError("escalator: cannot read back its scratch file in \(directory) at \(ref.offset + done): \(reason)")
                }
            }
            count = ref.length
        }
    }

    /// Writes the buffer at its place in the file; what the disk refuses stays in memory.
    private func flush() {
        var done = 0
        while done < buffer.count {
            let wrote = buffer.withUnsafeBytes { pwrite(descriptor, $0.baseAddress! + done, $0.count - done, off_t(written + done)) }
            if wrote > 0 {
                done += wrote
            } else if wrote < 0 && errno == EINTR {
                continue
            } else {
                lastFailure = wrote < 0 ? String(cString: strerror(errno)) : "the write made no progress"
                failureCount += 1
                break
            }
        }
        if done < buffer.count {
            // The whole stretch is kept, the part written included: a record is then always in one place.
            held.append((written, buffer))
            heldTotal += buffer.count
        }
        written += buffer.count
        buffer = []
        buffer.reserveCapacity(Self.stretch)
    }

    private func heldBytes(_ ref: Ref) -> [UInt8]? {
        // The last held stretch that starts at or before the record.
        var low = 0
        var high = held.count
        while low < high {
            let middle = (low + high) / 2
            if held[middle].start <= ref.offset { low = middle + 1 } else { high = middle }
        }
        guard low > 0 else { return nil }
        let stretch = held[low - 1]
        let start = ref.offset - stretch.start
        guard start + ref.length <= stretch.bytes.count else { return nil }
        return Array(stretch.bytes[start..<(start + ref.length)])
    }
}

public struct ShelfError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Where a packed record's bytes are: in memory, or on a shelf.
enum PackedStorage: Sendable {
    case memory([UInt8])
    case shelved(Shelf, Shelf.Ref)

    var bytes: [UInt8] {
        switch self {
        case .memory(let bytes): bytes
        case .shelved(let shelf, let ref): shelf.read(ref)
        }
    }

    var count: Int {
        switch self {
        case .memory(let bytes): bytes.count
        case .shelved(_, let ref): ref.length
        }
    }

    func isOn(_ shelf: Shelf) -> Bool {
        if case .shelved(let on, _) = self { return on === shelf }
        return false
    }

    /// The same bytes on `shelf`.
    func shelved(on shelf: Shelf) -> PackedStorage {
        isOn(shelf) ? self : .shelved(shelf, shelf.put(bytes))
    }
}

/// A packed record that can be kept on a shelf.
public protocol ShelvableRecord: Sendable {
    /// How many bytes it packs.
    var size: Int { get }
    /// The same record with its bytes on `shelf` (itself if they are there already).
    func shelved(on shelf: Shelf) -> Self
}

/// Packed records by case id, their bytes on a shelf when there is one (else in memory), with the count of live
/// bytes that tells when the shelf is mostly dropped records.
public struct ShelvedRecords<Record: ShelvableRecord>: Sendable {
    public private(set) var records: [String: Record] = [:]
    public private(set) var shelf: Shelf?
    /// Bytes of the records held.
    public private(set) var liveBytes = 0

    public init(shelf: Shelf?) { self.shelf = shelf }

    public var count: Int { records.count }

    public subscript(id: String) -> Record? {
        get { records[id] }
        set {
            let old: Record?
            if let newValue {
                let put = shelf.map { newValue.shelved(on: $0) } ?? newValue
                old = records.updateValue(put, forKey: id)
                liveBytes += put.size
            } else {
                old = records.removeValue(forKey: id)
            }
            liveBytes -= old?.size ?? 0
        }
    }

    public mutating func reserveCapacity(_ count: Int) { records.reserveCapacity(count) }

    public mutating func removeAll() {
        records = [:]
        liveBytes = 0
    }

    /// Holds from now on what `shelf` holds: records put later go there. Records already held stay where they are
    /// until replaced (a full read replaces every one it read).
    public mutating func adopt(_ newShelf: Shelf) { shelf = newShelf }

    /// Moves the held records onto a fresh shelf when the dropped bytes on the shelf outgrow the live ones (and
    /// 64 MB): the old file goes with its last record. Returns whether it moved them.
    @discardableResult
    public mutating func compactIfNeeded() throws -> Bool {
        guard let shelf, shelf.size > 2 * liveBytes + (64 << 20) else { return false }
        let next = try shelf.fresh()
        records = records.mapValues { $0.shelved(on: next) }
        self.shelf = next
        return true
    }
}
